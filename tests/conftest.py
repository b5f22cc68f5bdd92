pytest_plugins = ["tests.mp_plugin"]
