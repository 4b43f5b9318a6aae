"""BERT pretraining: masked-LM + next-sentence examples, TFRecords, the input pipeline and the run.

Nothing here imports TensorFlow at package level: worker processes import
`tasks.pretraining.examples` with numpy alone.
"""
