"""One module per task, each with ``case() -> Case``: the small data and settings the
estimator contract tests (tests/test_contract.py) run that task's estimator and CLI on."""
