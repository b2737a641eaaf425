"""Specific, multi-sentence answers for the everyday benign slot values (templates.SLOTS[BENIGN]: tasks and
topics). saferlhf.data.lookalike uses one instead of the templated "Sure! To {subject}, start with the basics ..."
for SPECIFIC_BENIGN_SHARE of the benign prompts, so a real answer is what the reward model learns to reward."""

from __future__ import annotations

BENIGN_ANSWERS: dict[str, str] = {
    "bake sourdough bread": "Feed your starter the day before, then mix 500 g flour, 350 g water, 100 g active starter "
    "and 10 g salt. Fold the dough every 30 minutes for two hours, shape it, proof it overnight in the fridge and bake "
    "in a lidded pot at 240 C for 20 minutes, then 20 more with the lid off.",
    "learn Python quickly": "Install Python, then spend a week on the basics: variables, lists, dictionaries, loops and "
    "functions, typing every example yourself. Then build a small project you care about, such as a script that "
    "renames your photos, and read other people's code when you get stuck.",
    "write a cover letter": "Address it to a named person if you can, and open with the role and why you want it. Use "
    "the middle paragraph for two achievements that match the job ad, with numbers, and close by asking for an "
    "interview. Keep it under one page.",
    "improve my sleep": "Go to bed and get up at the same time every day, even at weekends, and keep the bedroom cool "
    "and dark. Avoid caffeine after lunch and screens in the last hour, and get daylight in the morning.",
    "plan a trip to Japan": "Spring and autumn are the best seasons. Spend a few days in Tokyo, take the shinkansen to "
    "Kyoto for temples and day trips to Nara and Osaka, and get an IC card such as Suica for local trains.",
    "fix a leaking tap": "Turn off the water under the sink, open the tap to drain it and unscrew the handle. Replace "
    "the worn washer or cartridge with one of the same size, reassemble and turn the water back on slowly.",
    "start running": "Begin with run-walk intervals: one minute of easy running, two of walking, for 20 minutes, three "
    "times a week. Add a little running each week, keep a pace at which you can talk, and get shoes fitted.",
    "save money each month": "Set up an automatic transfer to savings on payday, so you save first. Track a month of "
    "spending, cancel unused subscriptions and set a weekly cash limit for food and going out.",
    "grow tomatoes on a balcony": "Choose a bush or cherry variety, plant it in a pot of at least 20 litres in the "
    "sunniest corner, and tie it to a cane. Water deeply when the soil is dry and feed weekly with tomato fertiliser "
    "once flowers appear.",
    "prepare for a job interview": "Research the company and reread the job ad, then prepare three stories about your "
    "work using the situation, task, action, result pattern. Practise answers aloud and bring two questions of your own.",
    "make a budget spreadsheet": "Make columns for category, planned and actual, with rows for income, rent, bills, "
    "food, transport and savings. Add a row that subtracts total spending from income, and fill in actual figures "
    "each week from your bank statement.",
    "learn to play guitar": "Learn the chords E minor, G, C and D first; they cover hundreds of songs. Practise 15 "
    "minutes a day, switching between two chords in time with a metronome, and keep the guitar in tune.",
    "clean a cast iron pan": "Wash it while warm with hot water and a brush, using a little soap if needed, and scrub "
    "stuck food with coarse salt. Dry it on the hob, then rub in a thin layer of oil.",
    "write a haiku": "A haiku has three lines of five, seven and five syllables and usually captures one moment in "
    "nature, with a hint of the season. For example: 'Cold rain on the roof / the kettle starts to whisper / tea "
    "before the dawn'.",
    "train my puppy to sit": "Hold a treat above its nose and move it slowly back over its head; as its bottom touches "
    "the floor, say 'sit' and give the treat. Repeat in short sessions of five to ten tries a few times a day.",
    "photosynthesis": "Plants use light energy, absorbed by the green pigment chlorophyll, to turn carbon dioxide and "
    "water into glucose, releasing oxygen. It happens in the chloroplasts of leaf cells and feeds almost all life.",
    "compound interest": "Compound interest is interest on your interest: each period's interest is added to the "
    "balance and earns interest itself. At 5% a year, 1,000 becomes 1,050 after one year and about 1,629 after ten.",
    "the water cycle": "The sun evaporates water from seas and lakes, the vapour cools and condenses into clouds, and "
    "it falls as rain or snow. The water runs into rivers or soaks into the ground and returns to the sea.",
    "how vaccines work": "A vaccine shows the immune system a harmless piece or weakened form of a germ, so it makes "
    "antibodies and memory cells. If the real germ arrives later, the body recognises it and fights it off faster.",
    "black holes": "A black hole is a region where gravity is so strong that nothing, not even light, can escape once "
    "it crosses the event horizon. Most form when a massive star collapses at the end of its life.",
    "the French revolution": "Between 1789 and 1799 France overthrew its monarchy, driven by debt, food shortages and "
    "Enlightenment ideas. It began with the storming of the Bastille, Louis XVI was executed in 1793, and it ended "
    "when Napoleon took power.",
    "machine learning": "Machine learning is a way of building programs that learn patterns from examples instead of "
    "following hand-written rules. A model is shown many labelled examples and adjusts its parameters to reduce its "
    "errors, then predicts on new data.",
    "climate change": "Burning coal, oil and gas adds carbon dioxide to the atmosphere, which traps heat, and the "
    "planet has warmed about 1.2 C since the 1800s. Effects include heatwaves, rising seas and heavier rain.",
    "the stock market": "The stock market is where shares of companies are bought and sold; a share is a small piece "
    "of ownership. Prices move with supply and demand, and index funds let you own many companies at once.",
    "recycling": "Recycling turns used materials such as paper, glass, metal and some plastics into new products, "
    "saving raw materials and energy. Rinse containers, keep them dry and check which plastics your council collects.",
}
