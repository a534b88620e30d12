"""Everyday words for groups of ImageNet-1k classes, to enrich ConSE label texts.

ImageNet names are often fine-grained ("Egyptian Mau", "Bluetick Coonhound", "snoek"), and a
general sentence embedder does not place them near the everyday word a user asks about ("a
cat", "a dog", "a fish"). ConSE therefore embeds "<name>, a kind of <group>" for grouped
classes. Groups are given as inclusive ranges of consecutive classes (by first and last name)
or as lists of names, both in the order of ``imagenet_labels.txt``.
"""
from __future__ import annotations

RANGES: tuple[tuple[str, str, str], ...] = (
    ("tench", "stingray", "fish"),
    ("rooster", "great grey owl", "bird"),
    ("fire salamander", "axolotl", "amphibian"),
    ("American bullfrog", "tailed frog", "frog"),
    ("loggerhead sea turtle", "box turtle", "turtle"),
    ("banded gecko", "Komodo dragon", "lizard"),
    ("Nile crocodile", "American alligator", "crocodile"),
    ("worm snake", "sidewinder", "snake"),
    ("harvestman", "wolf spider", "spider"),
    ("black grouse", "black swan", "bird"),
    ("echidna", "wombat", "animal"),
    ("jellyfish", "brain coral", "sea creature"),
    ("conch", "chambered nautilus", "mollusc"),
    ("Dungeness crab", "isopod", "crustacean"),
    ("white stork", "albatross", "bird"),
    ("grey whale", "killer whale", "whale"),
    ("dugong", "sea lion", "sea mammal"),
    ("Chihuahua", "Mexican hairless dog", "dog"),
    ("grey wolf", "coyote", "wolf"),
    ("dingo", "African wild dog", "wild dog"),
    ("red fox", "grey fox", "fox"),
    ("tabby cat", "Egyptian Mau", "cat"),
    ("cougar", "cheetah", "big cat"),
    ("brown bear", "sloth bear", "bear"),
    ("tiger beetle", "weevil", "beetle"),
    ("fly", "damselfly", "insect"),
    ("red admiral", "gossamer-winged butterfly", "butterfly"),
    ("starfish", "sea cucumber", "sea creature"),
    ("cottontail rabbit", "Angora rabbit", "rabbit"),
    ("hamster", "guinea pig", "rodent"),
    ("pig", "warthog", "pig"),
    ("ox", "bison", "cattle"),
    ("ram", "Alpine ibex", "sheep or goat"),
    ("hartebeest", "gazelle", "antelope"),
    ("dromedary", "llama", "camel"),
    ("weasel", "badger", "animal"),
    ("orangutan", "siamang", "ape"),
    ("guenon", "common squirrel monkey", "monkey"),
    ("ring-tailed lemur", "indri", "lemur"),
    ("Asian elephant", "African bush elephant", "elephant"),
    ("red panda", "giant panda", "panda"),
    ("snoek", "pufferfish", "fish"),
)

NAMED: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("horse", ("common sorrel",)),
    ("elephant", ("tusker",)),
    ("car", ("ambulance", "station wagon", "taxicab", "convertible", "jeep", "limousine",
             "minivan", "Model T", "race car", "sports car", "police van", "go-kart",
             "golf cart", "recreational vehicle")),
    ("truck", ("fire engine", "garbage truck", "moving van", "pickup truck", "tow truck",
               "semi-trailer truck", "forklift", "tractor", "snowplow", "half-track")),
    ("bus", ("school bus", "trolleybus", "minibus")),
    ("bicycle", ("tandem bicycle", "mountain bike", "tricycle", "unicycle")),
    ("motorbike", ("moped", "scooter")),
    ("boat", ("canoe", "catamaran", "fireboat", "gondola", "lifeboat", "ocean liner",
              "pirate ship", "schooner", "motorboat", "submarine", "trimaran", "yawl",
              "container ship", "aircraft carrier", "paddle wheel", "shipwreck")),
    ("aircraft", ("airliner", "airship", "military aircraft", "wing", "space shuttle",
                  "parachute", "balloon")),
    ("train", ("high-speed train", "electric locomotive", "freight car", "passenger car",
               "steam locomotive", "tram")),
    ("building", ("barn", "boathouse", "church", "castle", "greenhouse", "library",
                  "monastery", "mosque", "palace", "planetarium", "prison", "restaurant",
                  "bakery", "barbershop", "bookstore", "butcher shop", "confectionery store",
                  "grocery store", "shoe store", "tobacco shop", "toy store", "movie theater",
                  "apiary", "water tower", "lighthouse", "stupa", "yurt", "mobile home",
                  "dome", "thatched roof", "tile roof", "triumphal arch", "obelisk", "bell-cot",
                  "cliff dwelling", "patio")),
    ("bridge", ("suspension bridge", "through arch bridge", "viaduct", "pier", "dam")),
    ("musical instrument", ("accordion", "acoustic guitar", "banjo", "bassoon", "cello",
                            "chime", "cornet", "drum", "electric guitar", "flute",
                            "French horn", "gong", "grand piano", "harmonica", "harp",
                            "marimba", "maraca", "oboe", "ocarina", "organ", "pan flute",
                            "saxophone", "steel drum", "trombone", "upright piano", "violin")),
    ("computer", ("desktop computer", "laptop computer", "notebook computer",
                  "hand-held computer", "computer keyboard", "computer mouse", "monitor",
                  "CRT screen", "space bar", "typewriter keyboard")),
    ("food", ("guacamole", "consomme", "hot pot", "trifle", "ice cream", "ice pop",
              "baguette", "bagel", "pretzel", "cheeseburger", "hot dog", "mashed potato",
              "carbonara", "chocolate syrup", "dough", "meatloaf", "pizza", "pot pie",
              "burrito", "plate")),
    ("vegetable", ("head cabbage", "broccoli", "cauliflower", "zucchini", "spaghetti squash",
                   "acorn squash", "butternut squash", "cucumber", "artichoke", "bell pepper",
                   "cardoon", "corn")),
    ("fruit", ("Granny Smith", "strawberry", "orange", "lemon", "fig", "pineapple", "banana",
               "jackfruit", "custard apple", "pomegranate")),
    ("drink", ("red wine", "espresso", "eggnog", "coffee mug", "cup", "beer glass",
               "wine bottle", "beer bottle", "soda bottle", "water bottle", "whiskey jug")),
    ("landscape", ("alp", "cliff", "coral reef", "geyser", "lakeshore", "promontory", "shoal",
                   "seashore", "valley", "volcano")),
    ("person", ("baseball player", "bridegroom", "scuba diver")),
    ("flower", ("daisy", "yellow lady's slipper", "rapeseed")),
    ("mushroom", ("agaric", "gyromitra", "stinkhorn mushroom", "earth star",
                  "hen-of-the-woods", "bolete", "coral fungus", "mushroom")),
    ("clothing", ("abaya", "academic gown", "apron", "bikini", "bow tie", "bra", "cardigan",
                  "cloak", "fur coat", "gown", "hoop skirt", "jeans", "T-shirt",
                  "kimono", "lab coat", "military uniform", "miniskirt", "overskirt",
                  "pajamas", "poncho", "sarong", "suit", "sweatshirt", "swimsuit", "tank suit",
                  "trench coat", "vestment", "cowboy hat", "sombrero", "military cap")),
    ("furniture", ("bookcase", "chiffonier", "china cabinet", "desk", "dining table",
                   "filing cabinet", "four-poster bed", "infant bed", "cradle", "couch",
                   "folding chair", "rocking chair", "barber chair", "throne", "park bench",
                   "wardrobe", "entertainment center", "medicine chest", "chest")),
    ("sign", ("traffic sign", "scoreboard", "website", "menu", "comic book",
              "crossword", "dust jacket", "envelope", "packet")),
)


def group_of() -> dict[str, str]:
    """Class name -> group word, for the names in :func:`imagenet_labels` that have one."""
    from perception.image.mobilenet import imagenet_labels

    labels = list(imagenet_labels())
    index = {name: i for i, name in enumerate(labels)}
    out: dict[str, str] = {}
    for first, last, group in RANGES:
        for name in labels[index[first]:index[last] + 1]:
            out[name] = group
    for group, names in NAMED:
        for name in names:
            if name in index:
                out.setdefault(name, group)
    return out


def label_texts() -> list[str]:
    """The 1000 texts ConSE embeds: "<name>, a kind of <group>" or the bare name."""
    from perception.image.mobilenet import imagenet_labels

    groups = group_of()
    out = []
    for name in imagenet_labels():
        g = groups.get(name)
        out.append(f"{name}, a kind of {g}" if g and g.lower() not in name.lower() else name)
    return out
