"""MobileNetV2 + ConSE on real pictures (skimage.data), the FrameEncoder contract."""
from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch

from perception.image.encoder import FrameEncoder
from perception.image.mobilenet import MobileNetV2, imagenet_labels, load_mobilenet_v2

CATS = {"tabby cat", "tiger cat", "Persian cat", "Siamese cat", "Egyptian Mau"}
COFFEE = {"espresso", "cup", "coffee mug", "espresso machine", "coffeemaker"}


def test_label_file_has_1000_distinct_names():
    labels = imagenet_labels()
    assert len(labels) == 1000 and len(set(labels)) == 1000
    assert labels[0] == "tench" and labels[281] == "tabby cat" and labels[967] == "espresso"


def test_network_matches_torchvision_state_dict_layout():
    model = load_mobilenet_v2()
    keys = set(model.state_dict())
    assert "features.0.0.weight" in keys and "features.18.1.running_var" in keys
    assert "features.1.conv.0.0.weight" in keys and "features.2.conv.3.weight" in keys
    assert "classifier.1.weight" in keys


def test_encoder_satisfies_protocol(encoder):
    assert isinstance(encoder, FrameEncoder)
    assert encoder.dim == 1280 and encoder.concept_dim == 384


def test_cat_and_coffee_are_recognised(encoder):
    feats = encoder.encode([skimage.data.chelsea(), skimage.data.coffee()])
    assert feats.visual.shape == (2, 1280) and feats.concept.shape == (2, 384)
    assert feats.visual.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(feats.visual, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(feats.concept, axis=1), 1.0, atol=1e-5)
    cat, coffee = feats.labels
    assert len(cat) == 5 and CATS & set(cat), cat
    assert COFFEE & set(coffee), coffee
    assert all(0.0 <= p <= 1.0 for p in cat.values())


def test_conse_concept_points_at_the_right_words(encoder):
    feats = encoder.encode([skimage.data.chelsea(), skimage.data.coffee()])
    q = encoder.embed_text(["a cat", "a rocket", "a cup of coffee"])
    sims = feats.concept @ q.T
    assert sims[0, 0] > sims[0, 1]          # chelsea: cat over rocket
    assert sims[1, 2] > sims[1, 1]          # coffee: coffee over rocket
    assert sims[0, 0] > sims[1, 0]          # "a cat" prefers chelsea over coffee


def test_batching_and_sizes_do_not_change_results(encoder):
    img = skimage.data.astronaut()[::2, ::2]
    others = [skimage.data.coffee()[::2, ::2], skimage.data.rocket()[::2, ::2]]
    one = encoder.encode([img])
    saved = encoder.batch_size
    encoder.batch_size = 2  # force several batches, the target in the middle of one
    try:
        many = encoder.encode(others * 1 + [others[0], img] + others)
    finally:
        encoder.batch_size = saved
    np.testing.assert_allclose(one.visual[0], many.visual[3], atol=1e-4)
    assert many.visual.shape == (6, 1280) and len(many.labels) == 6
    assert encoder.encode([]).visual.shape == (0, 1280)


def test_bad_images_raise_value_error(encoder):
    with pytest.raises(ValueError, match="images\\[0\\]"):
        encoder.encode([np.zeros((10, 10), np.uint8)])
    with pytest.raises(TypeError, match="texts"):
        encoder.embed_text("a cat")


def test_tiny_random_network_plugs_in(text_embedder):
    """A randomly initialised MobileNetV2 with 3 classes (no weights needed) works end to end."""
    from perception.image.conse import ConSEFrameEncoder

    torch.manual_seed(0)
    net = MobileNetV2(num_classes=3).eval()
    enc = ConSEFrameEncoder(text_embedder, model=net, labels=["cat", "dog", "car"], top_k=2,
                            top_t=2)
    f = enc.encode([skimage.data.chelsea()])
    assert set(f.labels[0]) <= {"cat", "dog", "car"} and len(f.labels[0]) == 2
    with pytest.raises(ValueError, match="labels"):
        ConSEFrameEncoder(text_embedder, model=net, labels=["cat"])


def test_missing_weights_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_mobilenet_v2(tmp_path / "nope.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a state dict")
    with pytest.raises(ValueError, match="bad.pth"):
        load_mobilenet_v2(bad)


def test_fused_network_matches_the_plain_one():
    torch.manual_seed(1)
    x = torch.randn(1, 3, 160, 160)
    plain = load_mobilenet_v2()
    with torch.inference_mode():
        ref_f = plain.forward_features(x)
        ref_l = plain(x)
        fused = plain.fuse_for_inference()
        xf = x.contiguous(memory_format=torch.channels_last)
        got_f, got_l = fused.forward_features(xf), fused(xf)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    torch.testing.assert_close(got_f, ref_f, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(got_l, ref_l, atol=1e-3, rtol=1e-4)


def test_group_words_cover_fine_grained_names():
    from perception.image.imagenet_groups import NAMED, RANGES, group_of, label_texts

    labels = imagenet_labels()
    for first, last, _ in RANGES:  # every range endpoint is a real class name, in order
        assert labels.index(first) <= labels.index(last)
    assert all(n in labels for _, names in NAMED for n in names)
    groups = group_of()
    assert groups["Egyptian Mau"] == "cat" and groups["Beagle"] == "dog"
    assert groups["tench"] == "fish" and groups["taxicab"] == "car"
    texts = label_texts()
    assert len(texts) == 1000 and texts[285] == "Egyptian Mau, a kind of cat"


def test_everyday_word_finds_the_fine_grained_class(encoder):
    # chelsea is classified "Egyptian Mau"; "a cat" must still pick it among other pictures.
    pics = [skimage.data.chelsea(), skimage.data.coffee(), skimage.data.rocket(),
            skimage.data.astronaut()]
    concept = encoder.encode(pics).concept
    sims = concept @ encoder.embed_text(["a cat"])[0]
    assert int(np.argmax(sims)) == 0 and sims[0] > sims[1:].max() + 0.1


def test_label_embeddings_are_cached_per_embedder(tmp_path, text_embedder):
    from perception.image.conse import ConSEFrameEncoder

    net = MobileNetV2(num_classes=3).eval()
    calls = []

    def counting(texts):
        calls.append(len(texts))
        return text_embedder(texts)

    a = ConSEFrameEncoder(counting, model=net, labels=["cat", "dog", "car"], cache_dir=tmp_path)
    assert 3 in calls and len(list(tmp_path.glob("labels-*.npy"))) == 1
    calls.clear()
    b = ConSEFrameEncoder(counting, model=net, labels=["cat", "dog", "car"], cache_dir=tmp_path)
    assert 3 not in calls  # only the one-text fingerprint probe was embedded
    np.testing.assert_array_equal(a.label_vectors, b.label_vectors)

    def other(texts):  # a different embedder must not reuse those vectors
        return text_embedder(["photo: " + t for t in texts])

    ConSEFrameEncoder(other, model=net, labels=["cat", "dog", "car"], cache_dir=tmp_path)
    assert len(list(tmp_path.glob("labels-*.npy"))) == 2
