"""Training: the one loop for every tf.distribute strategy, optimizers, strategies, and the run skeleton."""
