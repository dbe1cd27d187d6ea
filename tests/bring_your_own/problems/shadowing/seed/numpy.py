import os
os.environ["SHADOW_NUMPY"] = "1"
