"""Datasets: the wsolevaluation metadata format, converters for CUB / ImageNet / digits, torch datasets."""
