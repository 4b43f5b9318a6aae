import keras
import numpy as np
import pytest
import tensorflow as tf

from bert_tf import BertEmbeddings, MultiHeadSelfAttention, TransformerEncoderBlock
from testing import BATCH, SEQ, check_layer, random_inputs, tiny_config

HIDDEN = 12


def hidden_states(seed=0):
    return np.random.default_rng(seed).standard_normal((BATCH, SEQ, HIDDEN)).astype(np.float32)


def test_embeddings_config_round_trip_and_sum():
    kwargs = dict(vocab_size=29, hidden_size=HIDDEN, max_position_embeddings=9, type_vocab_size=3,
                  initializer_range=0.5, layer_norm_eps=1e-5, hidden_dropout=0.3)
    inputs = random_inputs(tiny_config(vocab_size=29))
    layer, out = check_layer(
        BertEmbeddings, kwargs, lambda l: l(inputs["input_ids"], inputs["segment_ids"]))
    assert out.shape == (BATCH, SEQ, HIDDEN)
    # The sum of the three tables, normalised, computed here by hand.
    ids, seg = inputs["input_ids"], inputs["segment_ids"]
    x = (layer.word_embeddings.numpy()[ids] + layer.token_type_embeddings.numpy()[seg]
         + layer.position_embeddings.numpy()[:SEQ][None])
    x = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(out, x, atol=1e-5)
    # Default segment ids are 0; dropout is only active in training.
    np.testing.assert_array_equal(layer(ids), layer(ids, np.zeros_like(ids)))
    assert not np.allclose(layer(ids, seg, training=True), out)


def test_embeddings_reject_too_long_sequences():
    layer = BertEmbeddings(vocab_size=29, hidden_size=HIDDEN, max_position_embeddings=6)
    ids = np.ones((2, 7), np.int32)
    with pytest.raises(ValueError, match="sequence length 7 exceeds max_position_embeddings 6"):
        layer(ids)
    # With a dynamic length the check runs in the graph.
    fn = tf.function(lambda x: layer(x), input_signature=[tf.TensorSpec([None, None], tf.int32)])
    assert fn(ids[:, :6]).shape == (2, 6, HIDDEN)
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_position_embeddings 6"):
        fn(ids)


def test_embeddings_reject_out_of_range_ids():
    layer = BertEmbeddings(vocab_size=29, hidden_size=HIDDEN, type_vocab_size=2)
    with pytest.raises(tf.errors.InvalidArgumentError, match="vocab_size 29"):
        layer(np.full((2, 3), 29, np.int32))
    with pytest.raises(tf.errors.InvalidArgumentError, match="type_vocab_size 2"):
        layer(np.ones((2, 3), np.int32), np.full((2, 3), 2, np.int32))


def numpy_attention(layer, x, mask):
    w = {n: (getattr(layer, n).kernel.numpy(), getattr(layer, n).bias.numpy())
         for n in ("query", "key", "value", "output_dense")}
    heads, size = layer.num_attention_heads, HIDDEN // layer.num_attention_heads

    def split(name):
        kernel, bias = w[name]
        return (x @ kernel + bias).reshape(BATCH, SEQ, heads, size).transpose(0, 2, 1, 3)

    scores = split("query") @ split("key").transpose(0, 1, 3, 2) / np.sqrt(size)
    scores = np.where(mask[:, None, None, :] > 0, scores, -np.inf)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    context = (probs @ split("value")).transpose(0, 2, 1, 3).reshape(BATCH, SEQ, HIDDEN)
    kernel, bias = w["output_dense"]
    return context @ kernel + bias


def test_attention_matches_numpy_and_masks_padding():
    x = hidden_states()
    mask = random_inputs(tiny_config())["input_mask"]
    layer, out = check_layer(MultiHeadSelfAttention,
                             dict(num_attention_heads=3, attention_dropout=0.2, initializer_range=0.3),
                             lambda l: l(x, padding_mask=mask))
    np.testing.assert_allclose(out, numpy_attention(layer, x, mask), atol=1e-5)
    # Padded keys have exactly no influence.
    noisy = np.where(mask[..., None] > 0, x, hidden_states(seed=1))
    real = mask > 0
    np.testing.assert_array_equal(layer(noisy, padding_mask=mask).numpy()[real], out[real])


def test_attention_rejects_indivisible_heads():
    with pytest.raises(ValueError, match="multiple of num_attention_heads 5"):
        MultiHeadSelfAttention(num_attention_heads=5)(hidden_states())


def test_encoder_block_round_trip_and_residual_structure():
    x = hidden_states()
    mask = random_inputs(tiny_config())["input_mask"]
    kwargs = dict(num_attention_heads=3, intermediate_size=37, hidden_act="relu",
                  hidden_dropout=0.2, attention_dropout=0.3, layer_norm_eps=1e-6,
                  initializer_range=0.1)
    block, out = check_layer(TransformerEncoderBlock, kwargs,
                             lambda l: l(x, padding_mask=mask))

    def layer_norm(v, ln):
        v = (v - v.mean(-1, keepdims=True)) / np.sqrt(v.var(-1, keepdims=True) + 1e-6)
        return v * ln.gamma.numpy() + ln.beta.numpy()

    h = layer_norm(x + numpy_attention(block.attention, x, mask), block.attention_layer_norm)
    f = np.maximum(h @ block.intermediate.kernel.numpy() + block.intermediate.bias.numpy(), 0)
    f = f @ block.output_dense.kernel.numpy() + block.output_dense.bias.numpy()
    np.testing.assert_allclose(out, layer_norm(h + f, block.output_layer_norm), atol=1e-5)


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
@pytest.mark.parametrize("act", ["gelu", "gelu_exact", "relu"])
def test_training_and_inference_paths_compute_the_same_block(act, policy):
    """Without training the feed-forward and output projections run as 2-D MatMul + BiasAdd
    with the activation's plain formula (fused by oneDNN); in training through keras's Dense
    and the hand-written gradients. With dropout 0 both are the same function."""
    x = hidden_states(1)
    mask = random_inputs(tiny_config())["input_mask"]
    block = TransformerEncoderBlock(num_attention_heads=3, intermediate_size=37, hidden_act=act,
                                    hidden_dropout=0.0, attention_dropout=0.0,
                                    initializer_range=0.5, dtype=policy)
    train = tf.function(lambda v: block(v, padding_mask=mask, training=True))
    infer = tf.function(lambda v: block(v, padding_mask=mask, training=False))
    a, b = (tf.cast(f(x), tf.float32).numpy() for f in (train, infer))
    assert np.abs(a).max() > 0.5  # outputs of LayerNorm: order 1
    # Measured on Intel AMX: float32 4.8e-7 (the two GELU forms differ in the last bits),
    # bfloat16 0.016 (one bfloat16 step at 2: rounding before or after the fused activation).
    np.testing.assert_allclose(a, b, atol=1e-5 if policy == "float32" else 0.05)


def test_encoder_block_rejects_unknown_activation():
    with pytest.raises(ValueError, match="unknown activation 'swishy'"):
        TransformerEncoderBlock(num_attention_heads=3, intermediate_size=37, hidden_act="swishy")


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_layers_keep_float32_weights_and_statistics(policy):
    x = hidden_states()
    mask = random_inputs(tiny_config())["input_mask"]
    reference = TransformerEncoderBlock(num_attention_heads=3, intermediate_size=37)
    expected = reference(x, padding_mask=mask).numpy()
    block = TransformerEncoderBlock(num_attention_heads=3, intermediate_size=37, dtype=policy)
    block.build(x.shape)
    block.set_weights(reference.get_weights())
    out = block(x, padding_mask=mask)
    compute = keras.backend.standardize_dtype(policy.split("_")[1])
    assert out.dtype == compute
    assert all(w.dtype == "float32" for w in block.weights)
    # The block stays close to float32.
    atol = 0.05 if policy == "mixed_bfloat16" else 0.01
    np.testing.assert_allclose(np.asarray(out, np.float32), expected, atol=atol)
    # LayerNorm's statistics are float32 whatever the compute dtype: rows of mean 10 and
    # std 1, exact in the compute dtype, normalised here in float64. The one rounding left
    # is the output's to the compute dtype (unit roundoff u, |y| < 4); a mean or variance
    # rounded to the compute dtype (spacing 2^-4 in bfloat16, 2^-7 in float16 at 10) is
    # off by more.
    layer_norm = block.output_layer_norm
    rng = np.random.default_rng(5)
    layer_norm.gamma.assign(1 + 0.2 * rng.standard_normal(HIDDEN).astype(np.float32))
    layer_norm.beta.assign(0.2 * rng.standard_normal(HIDDEN).astype(np.float32))
    rows = tf.cast(10 + rng.standard_normal((BATCH, SEQ, HIDDEN)), compute)
    x64 = tf.cast(rows, tf.float64).numpy()
    centered = x64 - x64.mean(-1, keepdims=True)
    normed = centered / np.sqrt((centered ** 2).mean(-1, keepdims=True) + layer_norm.epsilon)
    reference = normed * layer_norm.gamma.numpy() + layer_norm.beta.numpy()
    got = layer_norm(rows)
    assert got.dtype == compute and np.abs(reference).max() < 4
    u = 2.0 ** -8 if policy == "mixed_bfloat16" else 2.0 ** -11
    np.testing.assert_allclose(tf.cast(got, tf.float64).numpy(), reference, rtol=u, atol=u)


@pytest.mark.parametrize("name", ["gelu", "gelu_exact"])
def test_gelu_values_and_hand_written_gradients(name):
    """Both GELUs carry their own gradient (to keep one tensor, not six, for the backward pass).

    Values against the independent float64 formula; gradients against its
    central difference, in float64 (tight) and float32 (the training dtype).
    """
    from bert_tf.layers import activations
    from reference import ACTIVATIONS

    fn, ref = activations.get(name), ACTIVATIONS[name]
    x = np.concatenate([np.linspace(-7.0, 7.0, 141), [-30.0, 0.0, 30.0]])
    h = 1e-6
    numeric = (ref(x + h) - ref(x - h)) / (2 * h)
    # float32: tanh saturates near |x| = 5 (the formula's own autodiff gradient is
    # 2.9e-6 off there too, measured on Intel AMX).
    for dtype, atol in ((tf.float64, 1e-8), (tf.float32, 1e-5)):
        xt = tf.constant(x, dtype)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = fn(xt)
        np.testing.assert_allclose(y.numpy(), ref(x), atol=atol * 10)
        np.testing.assert_allclose(tape.gradient(y, xt).numpy(), numeric, atol=atol)
    # The same gradient inside a compiled function, and for bfloat16 inputs.
    grad = tf.function(lambda t: tf.gradients(fn(t), t)[0], jit_compile=True)
    np.testing.assert_allclose(grad(tf.constant(x, tf.float32)).numpy(), numeric, atol=1e-5)
    bf16 = grad(tf.constant(x, tf.bfloat16))
    assert bf16.dtype == tf.bfloat16
    np.testing.assert_allclose(tf.cast(bf16, tf.float32).numpy(), numeric, atol=0.03)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_dropout_drops_the_rate_exactly_and_scales_the_rest(dtype):
    """16 random bits per element: rate 0.1 drops 6554/65536 = 10.0006% (keras's bfloat16
    uniform drops 13/128 = 10.16%), kept values are x / (1 - rate), the gradient is the mask."""
    from bert_tf.layers import Dropout

    layer = Dropout(0.1, seed=3, dtype=dtype)
    x = tf.cast(tf.random.stateless_uniform([1001, 999], [1, 2], 1.0, 2.0), dtype)  # odd size
    assert layer(x) is x and layer(x, training=False) is x
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
    grad = tape.gradient(y, x, output_gradients=tf.ones_like(x))
    y, x, grad = (tf.cast(t, tf.float32).numpy() for t in (y, x, grad))
    dropped = y == 0
    # 1e6 draws from a fixed seed (stateless: the same on every machine); the standard
    # error of the fraction is 3e-4, and keras's bfloat16 path is 1.6e-3 off.
    assert abs(dropped.mean() - 6554 / 65536) < 1e-3
    scale = np.float32(tf.cast(1 / 0.9, dtype).numpy())
    np.testing.assert_array_equal(y[~dropped], (tf.cast(x[~dropped], dtype) *
                                                tf.cast(scale, dtype)).numpy().astype(np.float32))
    np.testing.assert_array_equal(grad, np.where(dropped, 0.0, scale))
    # Both halves of the 32-bit draws are used: the first and the last elements alike.
    flat = dropped.ravel()
    assert abs(flat[: flat.size // 2].mean() - 0.1) < 2e-3
    assert abs(flat[flat.size // 2:].mean() - 0.1) < 2e-3
    # A new mask per call, the same masks from the same seed (carried by the config), and
    # the same under XLA.
    assert not np.array_equal(layer(x, training=True).numpy() == 0, dropped)
    twin = Dropout.from_config(layer.get_config())
    np.testing.assert_array_equal(twin(tf.cast(x, dtype), training=True).numpy() == 0, dropped)
    compiled = Dropout(0.1, seed=3, dtype=dtype)
    fn = tf.function(lambda t: compiled(t, training=True), jit_compile=True)
    np.testing.assert_array_equal(fn(tf.cast(x, dtype)).numpy() == 0, dropped)


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_layer_norm_values_and_gradients_match_keras(policy):
    """bert_tf's LayerNormalization (hand-written gradient) against keras's, same weights."""
    from bert_tf.layers import LayerNormalization

    x = tf.constant(np.random.default_rng(2).standard_normal((3, 5, 11)) * 3 + 1, tf.float32)
    ours = LayerNormalization(epsilon=1e-6, dtype=policy)
    theirs = keras.layers.LayerNormalization(epsilon=1e-6, dtype=policy)
    for layer in (ours, theirs):
        layer.build(x.shape)
    rng = np.random.default_rng(3)
    for weight in ("gamma", "beta"):
        value = rng.standard_normal(11).astype(np.float32)
        getattr(ours, weight).assign(value)
        getattr(theirs, weight).assign(value)
    upstream = tf.constant(rng.standard_normal((3, 5, 11)), tf.float32)
    results = []
    for layer in (ours, theirs):
        inputs = tf.cast(x, layer.compute_dtype)
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            y = layer(inputs)
            loss = tf.reduce_sum(tf.cast(y, tf.float32) * upstream)
        grads = tape.gradient(loss, [inputs, layer.gamma, layer.beta])
        assert y.dtype == layer.compute_dtype and grads[0].dtype == inputs.dtype
        results.append([tf.cast(t, tf.float32).numpy() for t in (y, *grads)])
    # Measured on Intel AMX: float32 within 1e-6, bfloat16 equal; other CPUs may round a
    # bfloat16 output one step (2^-8 relative) differently.
    atol = 1e-5 if policy == "float32" else 0.02
    for a, b in zip(*results):
        assert np.abs(a).max() > 0.1
        np.testing.assert_allclose(a, b, atol=atol, rtol=1e-5 if policy == "float32" else 0.01)
