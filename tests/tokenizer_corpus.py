"""A generated corpus of awkward strings for tokenizer parity tests."""

import random

ACCENTED = ["café", "naïve", "Crème brûlée", "Ångström", "Øresund", "façade", "jalapeño",
            "São Paulo", "Việt Nam", "Đà Nẵng", "Łódź", "Český Krumlov", "Straße", "Ærøskøbing",
            "e\u0301le\u0300ve", "A\u030a", "ñandú", "Zürich", "İstanbul", "ǅemal"]
SCRIPTS = ["Ελληνικά", "ΟΔΟΣ", "άλφα", "Σίσυφος", "ὕδωρ", "Привет, мир!", "Ёлка", "йогурт",
           "Україна", "Їжак", "مَرْحَبًا", "العربية", "שָׁלוֹם", "नमस्ते", "हिन्दी", "தமிழ்",
           "ภาษาไทย", "กำ", "ქართული", "Հայերեն", "አማርኛ"]
CJK = ["中文字符", "日本語のテキスト", "한국어 문장", "漢字かなカナ", "中文mixed with English",
       "東京Tokyo2020", "ｶﾀｶﾅ", "\u3400\U00020000", "\uf900\ufa10", "\U0002f800", "北京大学123"]
EMOJI = ["🙂", "👍🏽", "👨\u200d👩\u200d👧\u200d👦", "🇺🇸", "❤️", "🫠", "☕️", "🤖🤖", "👋hi"]
CONTROL = ["\x00", "\x07", "\x1b[31m", "\u200b", "\u200d", "\ufeff", "\u00ad", "\ue000",
           "\U000e0041", "\x7f", "\u0085", "\ufffd", "\u0378", "\U0010fffd", "\u2066"]
SPACES = [" ", "\t", "\n", "\r\n", "\u00a0", "\u1680", "\u2003", "\u3000", "\u2028", "\u2029",
          "\x0b", "\x0c", "\u202f", "\u205f", "\x1c", "  \t "]
PUNCT = ["!!!", "...", "—", "–", "«»", "¿¡", "“quoted”", "‘single’", "(a)[b]{c}", "#hashtag",
         "@user", "$100", "€20", "50%", "a/b\\c", "x=y+z", "<tag>", "~^`|", "、。「」", "‼", "※",
         "§¶", "•", "°C", "±", "→", "…", "¬", "©®™", "''\"\""]
WORDS = ["unaffable", "Transformer", "BERT", "tokenization", "pre-training", "don't", "U.S.A.",
         "e-mail", "3.14159", "1,000,000", "COVID-19", "iPhone", "McDonald's", "naïveté",
         "ﬁnancial", "ﬀ", "ＡＢＣ", "Ⅻ", "²", "½", "running", "The", "quick", "brown", "fox",
         "jumps", "over", "lazy", "dog", "Hello", "WORLD", "ǈ", "ﬃ", "ß", "ẞ", "Ⓐ"]
LONG = ["a" * 120, "supercalifragilistic" * 6, "x" * 100, "y" * 101, "é" * 101, "é" * 100,
        "中" * 120, "ab" * 60 + " tail"]
EDGE = ["", " ", "\t\n", "\u3000\u3000", "\u200b", "\x00\x00", "a", "A", ".", "##", "[UNK]",
        "[CLS] text [SEP]", "[MASK]"]

FRAGMENTS = ACCENTED + SCRIPTS + CJK + EMOJI + CONTROL + PUNCT + WORDS


def parity_corpus(count=260, seed=1234):
    """The fixed edge cases, every fragment alone, and `count` random mixtures of them."""
    rng = random.Random(seed)
    texts = EDGE + LONG + FRAGMENTS + SPACES
    for _ in range(count):
        parts = [rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 7))]
        out = parts[0]
        for part in parts[1:]:
            out += rng.choice(SPACES + ["", "", " ", " ", " "]) + part
        if rng.random() < 0.2:
            out = rng.choice(SPACES) + out + rng.choice(SPACES)
        texts.append(out)
    return texts


# What GPT-2's byte-level pre-tokenization treats specially: the contractions it splits off
# (case-sensitive), apostrophes that are not one, and runs of white space before a word.
CONTRACTIONS = ["they're", "we've", "I'll", "she'd", "I'm", "it's", "IT'S", "'s", "''s",
                "rock'n'roll", "o'clock", "'tis", "don''t", "y'all's", "5's", "!!'s", "'re'", "'"]
RUNS = ["  ", "   ", "\t\t", "\n\n\n", " \n ", "  \t  ", "\t ", " \t", "\u3000 ", " \u00a0 ",
        "\r\n\r\n", " \u2028", "\u0085 "]
NUMBERS = ["2024", "3.14159", "1,000,000", "٣٤٥", "१२३", "Ⅻ", "²³", "0x1F", "12ab34"]
LONGER = ["a" * 1500, "ab" * 700, "é" * 600, "🙂" * 300, "the" * 400 + " end"]


def bpe_corpus(count=260, seed=1234):
    """parity_corpus's cases plus contractions, numbers, runs of white space and longer words."""
    rng = random.Random(seed)
    fragments = FRAGMENTS + CONTRACTIONS + NUMBERS
    joins = SPACES + RUNS + ["", "", " ", " ", " ", " "]
    texts = EDGE + LONG + LONGER + fragments + SPACES + RUNS
    for _ in range(count):
        parts = [rng.choice(fragments) for _ in range(rng.randint(1, 7))]
        out = parts[0]
        for part in parts[1:]:
            out += rng.choice(joins) + part
        if rng.random() < 0.3:
            out = rng.choice(joins) + out + rng.choice(joins)
        texts.append(out)
    return texts


def fuzz_texts(count=2000, seed=5, max_length=12):
    """Short random strings over the characters pre-tokenization decides on."""
    chars = ["a", "b", "s", "t", "r", "e", "l", "d", "m", "v", "S", "1", "2", "'", "!", ".", " ",
             " ", " ", "\t", "\n", "\r", "\x0b", "\u3000", "\u00a0", "\u0085", "\u200b", "é",
             "e\u0301", "中", "🙂", "٣"]
    rng = random.Random(seed)
    return ["".join(rng.choice(chars) for _ in range(rng.randint(0, max_length)))
            for _ in range(count)]
