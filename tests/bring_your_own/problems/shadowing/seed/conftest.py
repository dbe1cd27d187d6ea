import os
os.environ["SHADOW_CONFTEST"] = "1"
