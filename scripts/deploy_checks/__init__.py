"""The checks behind scripts/deploy_check.py, one module per thing checked."""
