"""Default run names: readable adjective-animal slugs (`crimson-otter`), as Prefect users know.

The words are ours, chosen to be harmless in any workplace, rather than coolname's: importing
coolname costs ~40 ms (three times a runtime's whole start) and one of its slugs ~2.6 us, a
few percent of a flow run; two choices from these tuples cost ~0.6 us and nothing at import.
"""

from __future__ import annotations

import random

__all__ = ["ADJECTIVES", "ANIMALS", "new_slug"]

ADJECTIVES = (
    "agile", "amber", "ancient", "apricot", "aquatic", "arctic", "azure", "bold", "brave",
    "breezy", "bright", "brisk", "bronze", "calm", "candid", "careful", "cerulean", "charming",
    "cheerful", "chestnut", "clever", "cobalt", "copper", "coral", "cosmic", "cozy", "crimson",
    "crystal", "curious", "dapper", "daring", "dazzling", "deft", "diligent", "dreamy", "dusky",
    "eager", "earnest", "electric", "elegant", "emerald", "fearless", "festive", "fiery",
    "fluffy", "flying", "frosty", "gallant", "gentle", "gifted", "glossy", "golden", "graceful",
    "granite", "grateful", "hazel", "helpful", "honest", "hopeful", "humble", "icy", "indigo",
    "ivory", "jade", "jolly", "jovial", "keen", "kind", "lavender", "lilac", "lively", "loyal",
    "lucky", "lunar", "magenta", "majestic", "maroon", "mellow", "merry", "mighty", "mindful",
    "misty", "modest", "mossy", "nimble", "noble", "ochre", "olive", "onyx", "opal", "orange",
    "orchid", "patient", "peach", "pearl", "placid", "plucky", "polar", "polite", "precise",
    "proud", "quick", "quiet", "radiant", "rapid", "resolute", "robust", "rosy", "ruby", "russet",
    "rustic", "saffron", "sage", "sandy", "sapphire", "scarlet", "serene", "shiny", "silent",
    "silver", "sincere", "smiling", "snowy", "solar", "spry", "starry", "steady", "stellar",
    "sturdy", "sunny", "swift", "tawny", "teal", "tidy", "tireless", "topaz", "tranquil",
    "trusty", "turquoise", "upbeat", "valiant", "velvet", "verdant", "vivid", "warm", "wise",
    "witty", "wooden", "zealous", "zesty",
)  # fmt: skip

ANIMALS = (
    "albatross", "alpaca", "anteater", "antelope", "armadillo", "axolotl", "badger", "beaver",
    "bison", "bluebird", "bobcat", "buffalo", "butterfly", "camel", "capybara", "caribou",
    "catfish", "chameleon", "cheetah", "chinchilla", "chipmunk", "cicada", "condor", "cougar",
    "coyote", "crane", "cricket", "dingo", "dolphin", "dormouse", "dragonfly", "eagle", "egret",
    "elephant", "elk", "emu", "falcon", "ferret", "finch", "firefly", "flamingo", "fox", "gazelle",
    "gecko", "gerbil", "gibbon", "giraffe", "goldfinch", "goose", "gopher", "grebe", "hamster",
    "hare", "hedgehog", "heron", "hippo", "hornbill", "hummingbird", "ibex", "ibis", "iguana",
    "impala", "jackal", "jaguar", "jellyfish", "kangaroo", "kestrel", "kingfisher", "kiwi",
    "koala", "kudu", "ladybug", "lemur", "leopard", "llama", "lobster", "lynx", "macaw",
    "magpie", "manatee", "mandrill", "marmot", "meerkat", "mink", "mongoose", "moose", "narwhal",
    "newt", "nightingale", "ocelot", "octopus", "okapi", "orca", "oriole", "oryx", "osprey",
    "ostrich", "otter", "owl", "panda", "pangolin", "panther", "parrot", "partridge", "pelican",
    "penguin", "petrel", "pheasant", "platypus", "plover", "porcupine", "puffin", "puma",
    "quail", "quokka", "rabbit", "raccoon", "raven", "reindeer", "robin", "salamander",
    "salmon", "sandpiper", "seahorse", "seal", "sparrow", "squirrel", "starling", "stingray",
    "stork", "swallow", "swan", "tapir", "tern", "tiger", "tortoise", "toucan", "trout",
    "turtle", "vole", "wallaby", "walrus", "warbler", "weasel", "whale", "wildcat", "wolf",
    "wombat", "woodpecker", "wren", "yak", "zebra",
)  # fmt: skip


def new_slug() -> str:
    """A random `adjective-animal` name: one of about 22,800, so names may repeat."""
    return f"{random.choice(ADJECTIVES)}-{random.choice(ANIMALS)}"
