"""The paper runner (``wsol paper``): experiment specs, cells over methods and seeds, the report with seed statistics
and paired-bootstrap intervals. It sits on top of the job functions, like the demo; see ARCHITECTURE.md."""
