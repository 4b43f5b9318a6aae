import os

# Quieter TensorFlow start-up in test logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
