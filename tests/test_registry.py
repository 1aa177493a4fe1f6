import pytest

from wsol.registry import Registry


def test_register_get_and_errors():
    reg = Registry("model")

    @reg.register("b")
    def b():
        return 2

    reg.add("a", lambda: 1)
    assert reg.names() == ["a", "b"] and list(reg) == ["a", "b"] and len(reg) == 2 and "a" in reg
    assert reg.get("b")() == 2
    with pytest.raises(ValueError, match="model 'b' is already registered"):
        reg.add("b", b)
    with pytest.raises(ValueError, match="unknown model 'c'; valid: a, b"):
        reg.get("c")
    with pytest.raises(ValueError, match="invalid model name"):
        reg.add(" x", b)
