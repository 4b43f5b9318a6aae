"""Small generated data sets in the published layouts, with held-out words: only a pretrained encoder
generalizes to them, so a score well above chance shows that fine-tuning from a release works.

Every set draws its entity and opinion words from disjoint lists for training and for evaluation:
the evaluation sentences hold no word the head could have memorized.
"""

import csv
import json
import os

import numpy as np

# Opinion words, split between training and evaluation: the model must carry what it learns
# on the first half to synonyms it never saw fine-tuned.
POSITIVE = (["great", "wonderful", "excellent", "lovely", "superb", "brilliant", "delightful",
             "pleasant"],
            ["fantastic", "marvelous", "terrific", "enjoyable", "splendid", "fine"])
NEGATIVE = (["awful", "terrible", "bad", "poor", "dreadful", "horrible", "boring", "dull"],
            ["disappointing", "lousy", "miserable", "unpleasant", "weak", "tedious"])
THINGS = ["film", "meal", "hotel", "book", "concert", "service", "game", "show", "trip", "class"]
OPINION_TEMPLATES = ["The {thing} was {word}.", "What a {word} {thing} that was!",
                     "I thought the {thing} was {word} overall.",
                     "Honestly, a {word} {thing}, and the staff agreed.",
                     "Our {thing} last week turned out {word}."]

FIRST_NAMES = (["anna", "peter", "maria", "james", "laura", "daniel", "sofia", "michael",
                "emma", "thomas", "olivia", "david"],
               ["clara", "victor", "helen", "oscar", "julia", "martin"])
SURNAMES = (["smith", "miller", "brown", "wilson", "taylor", "clark", "walker", "young"],
            ["harris", "lewis", "baker", "turner"])
CITIES = (["paris", "london", "berlin", "madrid", "rome", "vienna", "dublin", "prague",
           "lisbon", "oslo", "warsaw", "athens"],
          ["tokyo", "cairo", "lima", "sydney", "toronto", "chicago"])
COMPANIES = (["google", "microsoft", "samsung", "toyota", "siemens", "nokia", "intel",
              "boeing"],
             ["sony", "nissan", "philips", "honda"])
JOBS = (["teacher", "doctor", "lawyer", "farmer", "pilot", "nurse", "baker", "engineer"],
        ["painter", "chemist", "soldier", "writer"])


def _split(lists, evaluation):
    return lists[1 if evaluation else 0]


def opinions(rng, count, evaluation=False):
    """[(sentence, "pos" | "neg")], balanced by chance."""
    rows = []
    for _ in range(count):
        positive = rng.random() < 0.5
        word = rng.choice(_split(POSITIVE if positive else NEGATIVE, evaluation))
        template = rng.choice(OPINION_TEMPLATES)
        rows.append((template.format(thing=rng.choice(THINGS), word=word),
                     "pos" if positive else "neg"))
    return rows


def write_opinion_csv(directory, train=240, dev=120, seed=0):
    """train.csv and dev.csv of (review, sentiment); dev's opinion words are held out."""
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    for split, count in (("train", train), ("dev", dev)):
        with open(os.path.join(directory, f"{split}.csv"), "w", newline="",
                  encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["review", "sentiment"])
            writer.writerows(opinions(rng, count, evaluation=split == "dev"))
    return directory


def _person(rng, evaluation):
    first = rng.choice(_split(FIRST_NAMES, evaluation)).capitalize()
    if rng.random() < 0.5:
        return [first]
    return [first, rng.choice(_split(SURNAMES, evaluation)).capitalize()]


def biographies(rng, count, evaluation=False):
    """SQuAD 1.1 paragraphs: a few sentences about a person, one question each about where
    they were born, where they worked or what their job was."""
    paragraphs = []
    for i in range(count):
        person = " ".join(_person(rng, evaluation))
        city, other = rng.choice(_split(CITIES, evaluation), 2, replace=False)
        city, other = city.capitalize(), other.capitalize()
        company = rng.choice(_split(COMPANIES, evaluation)).capitalize()
        job = rng.choice(_split(JOBS, evaluation))
        sentences = [(f"{person} was born in ", city, "."),
                     (f"Later {person.split()[0]} moved to {other} and worked for ", company,
                      "."),
                     (f"For many years {person.split()[0]} was a ", job, " there.")]
        order = rng.permutation(3)
        question, answer_at = [(f"Where was {person} born?", 0),
                               (f"Which company did {person} work for?", 1),
                               (f"What was the job of {person}?", 2)][int(rng.integers(3))]
        context, start = "", None
        for k in order:
            before, answer, after = sentences[k]
            if context:
                context += " "
            if k == answer_at:
                start = len(context) + len(before)
                answer_text = answer
            context += before + answer + after
        paragraphs.append({"context": context, "qas": [{
            "id": f"{'e' if evaluation else 't'}{i}", "question": question,
            "answers": [{"text": answer_text, "answer_start": start}]}]})
    return paragraphs


def write_biography_squad(path, count, seed, evaluation=False):
    rng = np.random.default_rng(seed)
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"version": "1.1", "data": [
            {"title": "people", "paragraphs": biographies(rng, count, evaluation)}]}, f)
    return str(path)


def news_sentences(rng, count, evaluation=False):
    """[(words, IOB2 tags)]: people, places and companies in a handful of sentence shapes."""
    found = []
    for _ in range(count):
        person = _person(rng, evaluation)
        city = rng.choice(_split(CITIES, evaluation)).capitalize()
        company = rng.choice(_split(COMPANIES, evaluation)).capitalize()
        shape = int(rng.integers(4))
        parts = [[(person, "PER"), "joined", (company, "ORG"), "in", ([city], "LOC"), "."],
                 ["Yesterday", (company, "ORG"), "opened", "an", "office", "in", ([city], "LOC"),
                  ",", "said", (person, "PER"), "."],
                 ["In", ([city], "LOC"), ",", (person, "PER"), "met", "people", "from",
                  (company, "ORG"), "."],
                 [(person, "PER"), "left", ([city], "LOC"), "on", "monday", "."]][shape]
        words, tags = [], []
        for part in parts:
            if isinstance(part, str):
                words.append(part)
                tags.append("O")
                continue
            entity, kind = part
            entity = [entity] if isinstance(entity, str) else list(entity)
            words += entity
            tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(entity) - 1)
        found.append((words, tags))
    return found


def write_news_jsonl(path, count, seed, evaluation=False):
    rng = np.random.default_rng(seed)
    with open(path, "w", encoding="utf-8") as f:
        for words, tags in news_sentences(rng, count, evaluation):
            f.write(json.dumps({"tokens": words, "tags": tags}) + "\n")
    return str(path)
