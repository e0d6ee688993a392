#!/usr/bin/env python3
"""Makes a small BERT-shaped TorchScript model, its vocab.txt and reference outputs for the text
plugin's wordpiece tests (text_wordpiece_test.cc).

    python3 text_bert_export.py OUTDIR

writes into OUTDIR:
  vocab.txt         a tiny BERT vocabulary ([PAD] [UNK] [CLS] [SEP] [MASK], words, ## pieces,
                    punctuation);
  model.pt          forward(input_ids, attention_mask) -> last hidden state [B, T, 32]: token
                    and position embeddings, LayerNorm, 2 TransformerEncoder layers, random
                    weights (seeded), torch.jit.script;
  model_pooled.pt   the same model returning the [CLS] state [B, 32] (a "pooled" output);
  reference.json    {"sentences": [...], "ids": {"128": [[...]], "8": [[...]]},
                     "mean": [[...]], "cls": [[...]], "mean_8": [[...]]}: this script's own
                    WordPiece ids (max_length 128 and 8) and the L2-normalised mean-pooled
                    (masked) and [CLS] outputs of model.pt, each sentence run on its own.

The tokenizer below is written from BERT's description (BasicTokenizer + WordpieceTokenizer with
Python's unicodedata), independently of the plugin's C++ one.
"""
import json
import os
import sys
import unicodedata
import warnings

import torch
from torch import nn

HIDDEN = 32
MAX_POSITIONS = 160

SENTENCES = [
    "Red running shoes for men",
    "The runner's shoes, unpacked!",
    "Café CRÈME brûlée à la carte",
    "Naïve résumé: über-cool façade",
    "unaffable playing runs (walked) [sic]",
    "Héllo wörld... 123 456,78",
    "qwxz zzz unknownword",
    "東京 tokyo 京都",
    "tabs\tand\nnewlines  and   spaces",
    "shoe" * 30 + " shoes",  # a 120-character word: [UNK]
    "running " * 40,  # longer than max_length 8 (and than 64 pieces)
    "a-b/c:d;e?f",
]

WORDS = """the a an and for of to in on with at by is are was be it this that these
red blue green running run runner runs shoe shoes men women kid kids trail road
cafe creme brulee la carte naive resume uber cool facade hello world tokyo
un play walk walked sic unpacked pack tabs newlines spaces spac 12 123 45 456 78
a b c d e f""".split()
PIECES = "##s ##ing ##ed ##er ##ers ##able ##aff ##ning ##pack ##ked ##es ##e ##d ##7 ##8 ##6 ##5 ##4 ##3 ##2 ##1".split()
PUNCT = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
CJK = ["東", "京"]


def make_vocab():
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    for tok in WORDS + PIECES + PUNCT + CJK:
        if tok not in vocab:
            vocab.append(tok)
    return vocab


# ---- reference tokenizer ---------------------------------------------------------------------

def is_whitespace(c):
    return c in " \t\n\r" or unicodedata.category(c) == "Zs"


def is_control(c):
    if c in "\t\n\r":
        return False
    return unicodedata.category(c) in ("Cc", "Cf")


def is_punctuation(c):
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith("P")


def is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def basic_tokenize(text, lowercase=True):
    cleaned = []
    for c in text:
        if ord(c) == 0 or ord(c) == 0xFFFD or is_control(c):
            continue
        if is_whitespace(c):
            cleaned.append(" ")
        elif is_cjk(ord(c)):
            cleaned.append(" " + c + " ")
        else:
            cleaned.append(c)
    out = []
    for word in "".join(cleaned).split():
        if lowercase:
            word = word.lower()
            word = "".join(c for c in unicodedata.normalize("NFD", word)
                           if unicodedata.category(c) != "Mn")
        current = ""
        for c in word:
            if is_punctuation(c):
                if current:
                    out.append(current)
                current = ""
                out.append(c)
            else:
                current += c
        if current:
            out.append(current)
    return out


def wordpiece(token, ids):
    if len(token) > 100:
        return [ids["[UNK]"]]
    pieces, start = [], 0
    while start < len(token):
        end, found = len(token), None
        while start < end:
            sub = ("##" if start > 0 else "") + token[start:end]
            if sub in ids:
                found = ids[sub]
                break
            end -= 1
        if found is None:
            return [ids["[UNK]"]]
        pieces.append(found)
        start = end
    return pieces


def encode(text, ids, max_length):
    pieces = []
    for token in basic_tokenize(text):
        pieces.extend(wordpiece(token, ids))
    return [ids["[CLS]"]] + pieces[: max_length - 2] + [ids["[SEP]"]]


# ---- model -----------------------------------------------------------------------------------

class TinyBert(nn.Module):
    def __init__(self, vocab_size):
        super().__init__()
        self.tok = nn.Embedding(vocab_size, HIDDEN)
        self.pos = nn.Embedding(MAX_POSITIONS, HIDDEN)
        self.norm = nn.LayerNorm(HIDDEN)
        layer = nn.TransformerEncoderLayer(HIDDEN, 4, dim_feedforward=64, dropout=0.0,
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.size(1), device=input_ids.device).unsqueeze(0)
        x = self.norm(self.tok(input_ids) + self.pos(positions))
        return self.encoder(x, src_key_padding_mask=attention_mask == 0)


class Pooled(nn.Module):
    def __init__(self, bert):
        super().__init__()
        self.bert = bert

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.bert(input_ids, attention_mask)[:, 0]


def normalised(v):
    return (v / v.norm()).tolist()


def main():
    warnings.filterwarnings("ignore", message=".*was found in ScriptModule constants.*")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    vocab = make_vocab()
    with open(os.path.join(out, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    ids = {t: i for i, t in enumerate(vocab)}

    torch.manual_seed(1234)
    bert = TinyBert(len(vocab)).eval()
    torch.jit.script(bert).save(os.path.join(out, "model.pt"))
    torch.jit.script(Pooled(bert).eval()).save(os.path.join(out, "model_pooled.pt"))

    model = torch.jit.load(os.path.join(out, "model.pt"))
    ref = {"sentences": SENTENCES, "ids": {}, "mean": [], "cls": [], "mean_8": []}
    for max_length in (128, 8):
        ref["ids"][str(max_length)] = [encode(s, ids, max_length) for s in SENTENCES]
    with torch.no_grad():
        for key, max_length in (("mean", 128), ("mean_8", 8)):
            for seq in ref["ids"][str(max_length)]:
                input_ids = torch.tensor([seq], dtype=torch.long)
                mask = torch.ones_like(input_ids)
                h = model(input_ids, mask)[0]
                ref[key].append(normalised(h.mean(0)))
                if key == "mean":
                    ref["cls"].append(normalised(h[0]))
    with open(os.path.join(out, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(ref, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
