import os
os.environ["SHADOW_SITECUSTOMIZE"] = "1"
