# Root conftest: the guest fixtures and options (--interactive, --blk, --guest-log)
# live in an installable plugin so that a board's test run can use them too.
pytest_plugins = ["harness.pytest_plugin"]
