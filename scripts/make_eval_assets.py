"""Write the evals' sample datasets to assets/evals/ (text rows written here; zips reuse assets/ files).

Run: python scripts/make_eval_assets.py (deterministic: same bytes every run).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"
OUT = ASSETS / "evals"

SIMILARITY = [  # sentence1, sentence2, score (0 = unrelated … 5 = same meaning), written for this project
    ("A cat sits on the mat.", "A kitten is sitting on a rug.", 4.2),
    ("A man is playing a guitar.", "Someone plays a guitar.", 4.6),
    ("A woman is slicing an onion.", "A woman is cutting an onion.", 4.8),
    ("The stock market fell sharply today.", "Shares dropped at the opening bell.", 3.8),
    ("A dog runs across the field.", "A dog is running on the grass.", 4.0),
    ("Children are playing in the park.", "Kids play outside in a park.", 4.4),
    ("The train arrives at noon.", "The train is expected at midday.", 4.5),
    ("He is reading a book.", "A man is cooking dinner.", 0.6),
    ("It is raining heavily.", "The sun is shining brightly.", 0.8),
    ("A plane is taking off.", "A child eats an apple.", 0.0),
    ("The soup is too salty.", "She bought a new car.", 0.0),
    ("Two men are playing chess.", "Two people play a board game.", 3.4),
    ("A bird is singing in a tree.", "The computer needs an update.", 0.0),
    ("The meeting was postponed.", "The meeting was moved to a later date.", 4.7),
    ("A boy is riding a bicycle.", "A boy rides his bike down the street.", 4.1),
    ("The lake froze overnight.", "Stock prices rose this morning.", 0.2),
]

SEARCH = [  # query, relevant passage
    ("Which animal purrs?", "Cats purr when they are content."),
    ("How do plants make food?", "Plants turn sunlight into sugar by photosynthesis."),
    ("When does water boil?", "At sea level water boils at 100 degrees Celsius."),
    ("What is the capital of Japan?", "Tokyo is the capital city of Japan."),
    ("How many legs does a spider have?", "A spider has eight legs."),
    ("What do bees make?", "Bees collect nectar and make honey."),
]
DISTRACTORS = [
    "The recipe needs two cups of flour.",
    "Heavy rain is expected over the weekend.",
    "The museum opens at nine in the morning.",
    "Football is played with eleven players on each side.",
]

TRANSLATION = [  # English source, French reference
    ("Good morning.", "Bonjour."),
    ("Thank you very much.", "Merci beaucoup."),
    ("The cat is black.", "Le chat est noir."),
    ("I like to read books.", "J'aime lire des livres."),
    ("Where is the station?", "Où est la gare ?"),
    ("The weather is nice today.", "Il fait beau aujourd'hui."),
]

SUMMARIZATION = [  # document, reference summary
    (
        "The city council approved a plan on Tuesday to turn the old railway line into a park. The project "
        "will add four kilometres of paths and plant two thousand trees. Work starts next spring.",
        "The council approved turning the old railway line into a park, with work starting next spring.",
    ),
    (
        "A local bakery won the national bread prize this year. The owners, who opened the shop ten years "
        "ago, said the secret is a sourdough starter kept alive since the first day.",
        "A local bakery won the national bread prize thanks to its ten-year-old sourdough starter.",
    ),
    (
        "Heavy snow closed the mountain pass for three days. Road crews worked through the night, and the "
        "pass reopened on Friday morning with chains required for all vehicles.",
        "The mountain pass reopened on Friday after three days closed by snow; chains are required.",
    ),
    (
        "The school library added five hundred new books after a fundraising drive by parents. Students "
        "can borrow them from Monday, and a reading club will meet every Thursday.",
        "Parents raised money for five hundred new library books, available from Monday.",
    ),
]

CHAT = [  # prompt, reference answer (short facts)
    ("What is the capital of France? Answer in one word.", "Paris"),
    ("What is the capital of Italy? Answer in one word.", "Rome"),
    ("What is the capital of Germany? Answer in one word.", "Berlin"),
    ("What is the capital of Spain? Answer in one word.", "Madrid"),
    ("What is the capital of Japan? Answer in one word.", "Tokyo"),
    ("How many days are in a week? Answer with a number.", "7"),
    ("What colour is the sky on a clear day? Answer in one word.", "blue"),
    ("What is the opposite of hot? Answer in one word.", "cold"),
]

AUDIO_LABELS = [
    ("audio-speech-en.wav", "a person speaking"),
    ("audio-chime.flac", "a musical tone"),
    ("audio-rain.ogg", "rain or noise"),
]
ASR = [("audio-speech-en.wav", "Open models can listen, speak and translate. This sentence was spoken by a computer.")]
IMAGE_LABELS = [
    ("mm-apple.png", "apple"),
    ("mm-house.png", "house"),
    ("mm-night-sky.png", "night sky"),
    ("mm-stop-sign.png", "stop sign"),
    ("mm-sunset.png", "sunset"),
    ("vision-cat.jpg", "cat"),
]
VQA = [
    ("mm-stop-sign.png", "What does the sign say?", "stop"),
    ("mm-house.png", "What colour is the door?", "blue"),
    ("mm-night-sky.png", "Is it day or night?", "night"),
    ("mm-apple.png", "What fruit is this?", "apple"),
]
CAPTIONS = [
    ("mm-stop-sign.png", "a red stop sign on a pole"),
    ("mm-sunset.png", "the sun setting over the sea"),
    ("mm-house.png", "a house with a red roof and a tree"),
    ("vision-cat.jpg", "a close up of a tabby cat"),
]


def csv_text(header: list[str], rows: list[tuple]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write_zip(name: str, header: list[str], rows: list[tuple]) -> None:
    """A zip with metadata.csv and each row's file (stored, with a fixed date: the same bytes every run)."""
    with zipfile.ZipFile(OUT / name, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        stamp = (2026, 1, 1, 0, 0, 0)
        archive.writestr(zipfile.ZipInfo("metadata.csv", stamp), csv_text(header, rows))
        for file in dict.fromkeys(row[0] for row in rows):
            archive.writestr(zipfile.ZipInfo(file, stamp), (ASSETS / file).read_bytes())


def main() -> None:
    OUT.mkdir(exist_ok=True)
    (OUT / "similarity.csv").write_text(csv_text(["sentence1", "sentence2", "score"], SIMILARITY))
    # Each row may add a distractor passage (the `corpus` column) to the corpus every query searches.
    search_rows = [(q, p, DISTRACTORS[i] if i < len(DISTRACTORS) else "") for i, (q, p) in enumerate(SEARCH)]
    (OUT / "search.csv").write_text(csv_text(["query", "passage", "corpus"], search_rows))
    (OUT / "translation.csv").write_text(
        csv_text(
            ["source", "reference", "source_language", "target_language"],
            [(s, r, "English", "French") for s, r in TRANSLATION],
        )
    )
    (OUT / "summarization.jsonl").write_text(
        "".join(json.dumps({"document": d, "reference": r}) + "\n" for d, r in SUMMARIZATION)
    )
    (OUT / "chat.csv").write_text(csv_text(["prompt", "reference"], CHAT))
    write_zip("asr.zip", ["file_name", "reference"], ASR)
    labels = ", ".join(label for _file, label in AUDIO_LABELS)
    write_zip("audio_classification.zip", ["file_name", "label", "labels"], [(f, t, labels) for f, t in AUDIO_LABELS])
    write_zip("image_classification.zip", ["file_name", "label"], IMAGE_LABELS)
    write_zip("vqa.zip", ["file_name", "question", "reference"], VQA)
    write_zip("captioning.zip", ["file_name", "reference"], CAPTIONS)


if __name__ == "__main__":
    main()
