"""Long multi-session conversations for the recall benchmark (``kith bench memory``).

Generated deterministically from a seed: several speakers (you and three bots)
talk over many dated sessions of small talk; facts are planted in the early
sessions and asked about after the last one, in one of five ways:

* ``keyword``: with the fact's own key words ("What did Bo name the beagle puppy?")
* ``paraphrase``: with other words ("What is the name of Bo's new dog?")
* ``temporal``: when something happened (the date is in the planted message)
* ``update``: a fact changed later; the newer message is the evidence
* ``multi``: two messages together answer it

The small talk shares words with the questions (the neighbour's dog, work was
busy, moving boxes) and holds first-person statements, names and numbers too,
so that neither word overlap nor Kith's importance heuristic gives the answer away.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

NAMES = ["Bo", "Cy", "Dee", "Eli", "Fay", "Gus", "Hal", "Ivy", "Jo", "Kit", "Lu", "Max",
         "Ned", "Ola", "Pip", "Quin", "Rae", "Sol", "Tam", "Uma", "Vic", "Wes"]  # fmt: skip
BREEDS = ["beagle", "poodle", "terrier", "spaniel", "collie", "dachshund", "greyhound", "husky"]
PETS = ["Rufus", "Biscuit", "Pepper", "Mango", "Ziggy", "Noodle", "Waffles", "Juniper"]
JOBS = [("pharmacist", "harbour clinic"), ("architect", "planning office"),
        ("paramedic", "county ambulance service"), ("librarian", "university archive"),
        ("carpenter", "boatyard"), ("translator", "embassy"), ("baker", "corner patisserie"),
        ("surveyor", "railway company")]  # fmt: skip
CITIES = ["Lisbon", "Oslo", "Krakow", "Valencia", "Tallinn", "Porto", "Ghent", "Bergen",
          "Lyon", "Turin", "Seville", "Dublin"]  # fmt: skip
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]  # fmt: skip
ALLERGIES = [("peanuts", "nut"), ("shellfish", "seafood"), ("sesame", "seed"),
             ("strawberries", "berry"), ("kiwi", "fruit"), ("wheat", "bread")]  # fmt: skip
HOBBIES = ["pottery", "salsa", "fencing", "archery", "violin", "watercolour", "judo", "choir"]
RELATIVES = [("niece", "sister's daughter"), ("nephew", "brother's son"),
             ("grandmother", "mother's mother"), ("godson", "godchild")]  # fmt: skip
KIN_NAMES = ["Mila", "Otto", "Greta", "Theo", "Nina", "Felix", "Rosa", "Hugo"]
VEHICLES = [("cargo bike", "cycle"), ("camper van", "drive"), ("electric scooter", "ride"),
            ("red motorbike", "ride"), ("second-hand sailboat", "sail")]  # fmt: skip
FEARS = [("spiders", "creepy crawlies"), ("heights", "tall ladders and cliffs"),
         ("deep water", "swimming far from shore"), ("thunderstorms", "lightning"),
         ("clowns", "circus performers")]  # fmt: skip
ORGS = ["bank", "post office", "bookshop", "hotel", "school", "garage", "museum", "bakery"]

FILLER = [
    "The neighbour's dog barked all night again, I barely slept.",
    "Work was busy today, {n} meetings back to back.",
    "I think it might rain later, the sky looks grey.",
    "Did you watch the match last night? {n} goals in the second half!",
    "I made soup for dinner, nothing fancy.",
    "My train was {n} minutes late this morning.",
    "We should plan a trip somewhere warm this year.",
    "I've been reading a novel about a lighthouse keeper.",
    "The cafe on the corner changed its menu, the new cake is good.",
    "I'm so tired, I need a long weekend.",
    "Have you tried the new market by the river?",
    "My phone battery keeps dying, I need a new one.",
    "I saw a cat on the roof of the bus stop, no idea how it got there.",
    "The moving boxes are still in the hall from the last flat.",
    "I'm thinking about learning to cook proper curry.",
    "The park was full of families today, it was lovely.",
    "I have {n} emails to answer and no energy.",
    "My old school friend called me yesterday out of the blue.",
    "The bakery ran out of bread before nine, again.",
    "I watched a documentary about whales, they sing to each other.",
    "My brother keeps sending me memes at midnight.",
    "The gym was empty, I had the whole place to myself.",
    "I bought new running shoes, they feel like clouds.",
    "Someone left a piano on the street, free to take.",
    "I'm trying to drink less coffee, day {n} and failing.",
    "The city is doing roadworks outside my window again.",
    "I found an old photo of my family at the beach.",
    "My favourite show got cancelled, I'm annoyed.",
    "I need to fix the leaking tap in the kitchen.",
    "The weather in {month} is always unpredictable here.",
    "I helped a friend paint their living room, green walls now.",
    "There's a new job board at the library, mostly part-time stuff.",
    "Our team won the pub quiz, {n} points ahead.",
    "I think I'm getting a cold, my throat hurts.",
    "The kids next door are learning the trumpet, loudly.",
    "I planted tomatoes on the balcony, fingers crossed.",
    "The car park at the station costs a fortune now.",
    "I'm never going to finish this puzzle, {n} pieces left.",
    "My grandmother's recipe for apple pie is the best.",
    "We went for a walk by the old harbour, it was windy.",
    "Honestly, the food at that wedding was great.",
    "I was afraid the concert would be sold out, but we got tickets.",
    "I can't believe it's already {month}.",
    "The museum has a free evening on Thursdays.",
    "I think the new neighbours are nice, they brought biscuits.",
    "Do you like animals? I always wanted a big garden for them.",
    "My sister is visiting next week, I need to tidy up.",
    "I lost my umbrella on the tram, third one this year.",
]


@dataclass
class Planted:
    """A message to plant: which session it goes in and its key (for evidence)."""

    session: int
    speaker: str
    text: str
    key: str


@dataclass
class Question:
    kind: str
    text: str
    evidence_keys: list[str]
    evidence_ids: list[str] = field(default_factory=list)


@dataclass
class Conversation:
    index: int
    speakers: list[str]
    messages: list[tuple[str, str, datetime, str | None]]
    """(speaker name, text, time, fact key or None)"""
    questions: list[Question]
    end: datetime


DECOYS = [
    "My neighbour's {breed} keeps escaping through the fence.",
    "A {breed} puppy at the park tried to steal my sandwich.",
    "My cousin works as a {job} too, long shifts.",
    "I once visited {city} in {month}, lovely old town.",
    "They say {city} is expensive to live in now.",
    "The new cafe puts {food} in everything, be careful.",
    "I tried {hobby} once, it was harder than it looks.",
    "The community centre has a poster for {hobby} lessons.",
    "My friend's {relative} is starting school soon.",
    "Someone on my street bought a {vehicle}, very noisy.",
    "My flatmate is terrified of {fear}, not me though.",
    "I heard the {org} is hiring again.",
    "Someone I know ran a marathon in {city} last year.",
]


def decoy(rng: random.Random) -> str:
    """Small talk sharing a planted fact's key words, about someone or something else."""
    return rng.choice(DECOYS).format(
        breed=rng.choice(BREEDS), job=rng.choice(JOBS)[0], city=rng.choice(CITIES),
        month=rng.choice(MONTHS), food=rng.choice(ALLERGIES)[0], hobby=rng.choice(HOBBIES),
        relative=rng.choice(RELATIVES)[0], vehicle=rng.choice(VEHICLES)[0],
        fear=rng.choice(FEARS)[0], org=rng.choice(ORGS),
    )


def _facts(rng: random.Random, speaker: str, key: str, early: int) -> tuple[list[Planted], list[Question]]:
    """One fact about ``speaker`` with its questions; ``early`` is the last session to plant in."""
    s = speaker
    pick = rng.choice
    kind = rng.randrange(9)
    sess = rng.randrange(early)
    if kind == 0:
        breed, pet = pick(BREEDS), pick(PETS)
        plant = [Planted(sess, s, f"I finally adopted a {breed} puppy, we named him {pet}.", key)]
        qs = [Question("keyword", f"What did {s} name the {breed} puppy?", [key]),
              Question("paraphrase", f"What is the name of {s}'s new dog?", [key])]
    elif kind == 1:
        job, org = pick(JOBS)
        plant = [Planted(sess, s, f"I start next month as a {job} at the {org}.", key)]
        qs = [Question("keyword", f"Where will {s} work as a {job}?", [key]),
              Question("paraphrase", f"What new position did {s} accept?", [key])]
    elif kind == 2:
        city, month = pick(CITIES), pick(MONTHS)
        plant = [Planted(sess, s, f"We're relocating to {city} in {month}, my partner got transferred.", key)]
        qs = [Question("temporal", f"When is {s} relocating to {city}?", [key]),
              Question("paraphrase", f"Which town is {s} going to live in?", [key])]
    elif kind == 3:
        food, group = pick(ALLERGIES)
        plant = [Planted(sess, s, f"Careful with the snacks, I'm allergic to {food}.", key)]
        qs = [Question("keyword", f"What is {s} allergic to?", [key]),
              Question("paraphrase", f"Which {group} must {s} avoid eating?", [key])]
    elif kind == 4:
        hobby = pick(HOBBIES)
        day = f"{rng.randrange(1, 28)} {pick(MONTHS)}"
        plant = [Planted(sess, s, f"On {day} I signed up for {hobby} lessons at the community centre.", key)]
        qs = [Question("temporal", f"When did {s} sign up for {hobby} lessons?", [key]),
              Question("paraphrase", f"Which class did {s} enrol in?", [key])]
    elif kind == 5:
        (relative, gloss), kin = pick(RELATIVES), pick(KIN_NAMES)
        age = rng.randrange(3, 90)
        plant = [Planted(sess, s, f"My {relative} {kin} just turned {age}, we had a party.", key)]
        qs = [Question("keyword", f"How old is {s}'s {relative} {kin}?", [key]),
              Question("paraphrase", f"How old is {s}'s {gloss} now?", [key])]
    elif kind == 6:
        vehicle, verb = pick(VEHICLES)
        plant = [Planted(sess, s, f"I sold my old car and bought a {vehicle}.", key)]
        qs = [Question("keyword", f"What did {s} buy after selling the old car?", [key]),
              Question("paraphrase", f"What does {s} {verb} to get around town these days?", [key])]
    elif kind == 7:
        fear, gloss = pick(FEARS)
        plant = [Planted(sess, s, f"Honestly I'm terrified of {fear}, always have been.", key)]
        qs = [Question("keyword", f"What is {s} terrified of?", [key]),
              Question("paraphrase", f"Is {s} scared of {gloss}?", [key])]
    else:
        first, second = rng.sample(ORGS, 2)
        c1, c2 = rng.sample(CITIES, 2)
        plant = [Planted(sess, s, f"I've worked at the {first} for years now.", key + "a"),
                 Planted(early + rng.randrange(early), s,
                         f"Big news: I quit the {first}, I'm at the {second} from Monday.", key + "b"),
                 Planted(rng.randrange(early), s, f"I ran my first marathon in {c1}, my legs hurt.", key + "c"),
                 Planted(early + rng.randrange(early), s,
                         f"Finished another marathon, this time in {c2}.", key + "d")]
        qs = [Question("update", f"Where does {s} work at the moment?", [key + "b"]),
              Question("multi", f"In which cities has {s} run marathons?", [key + "c", key + "d"])]
    return plant, qs


def conversation(
    index: int,
    *,
    sessions: int = 20,
    per_session: int = 30,
    facts: int = 15,
    seed: int = 7,
    bots: int = 3,
) -> Conversation:
    """One long conversation: ``sessions`` dated sessions of ``per_session`` messages,
    between you (Sam) and ``bots`` bots."""
    rng = random.Random(seed * 1000 + index)
    speakers = ["Sam", *rng.sample(NAMES, bots)]
    early = max(1, sessions // 3)
    planted: list[Planted] = []
    questions: list[Question] = []
    for n in range(facts):
        p, q = _facts(rng, rng.choice(speakers), f"f{index}-{n}", early)
        planted += p
        questions += q
    by_session: dict[int, list[Planted]] = {}
    for item in planted:
        by_session.setdefault(min(item.session, sessions - 1), []).append(item)
    start = datetime(2024, 1, 6, 18, 0, tzinfo=UTC) + timedelta(days=index)
    messages: list[tuple[str, str, datetime, str | None]] = []
    when = start
    for session in range(sessions):
        when = start + timedelta(days=7 * session)
        plants = by_session.get(session, [])
        slots = sorted(rng.sample(range(per_session), min(len(plants), per_session)))
        at = dict(zip(slots, plants, strict=False))
        for i in range(per_session):
            when += timedelta(minutes=rng.randrange(1, 4))
            item = at.get(i)
            if item is not None:
                messages.append((item.speaker, item.text, when, item.key))
                continue
            if rng.random() < 0.15:
                text = decoy(rng)
            else:
                text = rng.choice(FILLER).format(n=rng.randrange(2, 40), month=rng.choice(MONTHS))
            messages.append((rng.choice(speakers), text, when, None))
    return Conversation(index, speakers, messages, questions, when + timedelta(days=3))
