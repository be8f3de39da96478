"""Hand-written vocabulary of the synthetic world: categories, sub-topics, entity name parts.

Each category has sub-topics (a phrase plus keywords that news titles, queries and page titles
reuse), the kinds of named entity it talks about, a few real, well-known names (so that
navigational noise such as "amazon login" shares words with real news interests) and the web
sites its pages live on. The generator turns this into entity tables with a seed (`entities.py`).
"""

from __future__ import annotations

# (name, entity kinds, fixed real entities, sites, [(sub-topic phrase, keywords), ...])
CATEGORIES: tuple = (
    (
        "politics",
        ("person", "place"),
        (),
        ("politicsdaily.com", "capitolwire.org"),
        (
            ("election polls", ("polls", "voters", "swing states", "ballot")),
            ("congress budget bill", ("budget", "spending bill", "shutdown", "senate vote")),
            ("supreme court ruling", ("justices", "ruling", "appeal", "constitution")),
            ("immigration policy", ("border", "asylum", "visas", "deportation")),
            ("campaign fundraising", ("donors", "super pac", "fundraising", "campaign ads")),
            ("governor race", ("governor", "state legislature", "primary", "debate")),
        ),
    ),
    (
        "world",
        ("person", "place"),
        (),
        ("globalreport.com", "worldaffairs.net"),
        (
            ("ceasefire talks", ("ceasefire", "negotiations", "truce", "hostages")),
            ("diplomatic summit", ("summit", "diplomats", "treaty", "foreign minister")),
            ("refugee crisis", ("refugees", "humanitarian aid", "displacement", "camps")),
            ("economic sanctions", ("sanctions", "embargo", "export controls", "tariffs")),
            ("border dispute", ("border clash", "troops", "territory", "military")),
            (
                "national election abroad",
                ("parliament", "prime minister", "coalition", "vote count"),
            ),
        ),
    ),
    (
        "economy",
        ("person", "org"),
        ("Federal Reserve",),
        ("econwatch.com", "marketpulse.net"),
        (
            ("interest rate decision", ("interest rates", "rate cut", "rate hike", "central bank")),
            ("inflation report", ("inflation", "consumer prices", "cpi", "cost of living")),
            ("jobs report", ("unemployment", "payrolls", "hiring", "layoffs")),
            ("trade tariffs", ("tariffs", "trade deficit", "imports", "trade war")),
            ("recession fears", ("recession", "gdp", "slowdown", "consumer spending")),
            ("housing market", ("home sales", "housing starts", "home prices", "mortgage demand")),
        ),
    ),
    (
        "markets",
        ("company", "person"),
        (),
        ("tickertape.com", "streetinsider.net"),
        (
            ("quarterly earnings", ("earnings", "revenue", "profit forecast", "guidance")),
            ("stock market rally", ("stocks", "dow", "nasdaq", "rally")),
            ("ipo filing", ("ipo", "listing", "valuation", "shares debut")),
            ("bond yields", ("treasury yields", "bonds", "yield curve", "debt")),
            ("cryptocurrency prices", ("bitcoin", "crypto", "ethereum", "token")),
            ("merger deal", ("merger", "acquisition", "buyout", "takeover bid")),
        ),
    ),
    (
        "technology",
        ("company", "person"),
        ("Google", "Apple", "Amazon", "Microsoft", "Nvidia", "Meta"),
        ("techcrunchy.com", "gadgetlab.net", "circuitnews.io"),
        (
            ("artificial intelligence models", ("ai", "chatbot", "language model", "ai safety")),
            ("smartphone launch", ("smartphone", "iphone", "android", "camera upgrade")),
            ("chip shortage", ("semiconductors", "chips", "gpu", "foundry")),
            ("cybersecurity breach", ("data breach", "ransomware", "hackers", "cyberattack")),
            ("antitrust lawsuit", ("antitrust", "regulators", "monopoly", "app store")),
            ("cloud computing", ("cloud", "data centers", "servers", "software")),
        ),
    ),
    (
        "science",
        ("person", "org"),
        ("NASA",),
        ("sciencedaily.org", "labnotes.net"),
        (
            ("space mission", ("rocket launch", "mars", "moon landing", "astronauts")),
            ("telescope discovery", ("telescope", "galaxy", "exoplanet", "black hole")),
            ("gene editing research", ("crispr", "genome", "dna", "gene therapy")),
            ("archaeology find", ("ancient tomb", "fossils", "excavation", "artifacts")),
            ("ocean research", ("coral reefs", "deep sea", "marine life", "ocean currents")),
            ("particle physics", ("particle accelerator", "quantum", "physicists", "experiment")),
        ),
    ),
    (
        "health",
        ("person", "org"),
        (),
        ("healthline.net", "medwire.org"),
        (
            ("vaccine trial", ("vaccine", "clinical trial", "booster", "immunity")),
            ("cancer treatment", ("cancer", "immunotherapy", "tumor", "oncology")),
            ("mental health", ("anxiety", "depression", "therapy", "burnout")),
            ("nutrition study", ("diet", "nutrition", "weight loss", "sugar")),
            ("flu outbreak", ("flu season", "outbreak", "hospitalizations", "virus")),
            ("heart disease", ("heart attack", "cholesterol", "blood pressure", "cardiology")),
        ),
    ),
    (
        "weather",
        ("place",),
        (),
        ("stormtracker.com", "climatecentral.net"),
        (
            (
                "hurricane season forecast",
                ("hurricane", "tropical storm", "landfall", "evacuation"),
            ),
            ("wildfire spread", ("wildfire", "evacuation orders", "smoke", "firefighters")),
            ("heat wave", ("heat wave", "record temperatures", "heat advisory", "drought")),
            ("winter storm", ("blizzard", "snowfall", "ice storm", "power outages")),
            ("climate change policy", ("emissions", "climate summit", "carbon", "net zero")),
            ("flood warning", ("flooding", "flash flood", "river levels", "storm surge")),
        ),
    ),
    (
        "energy",
        ("company", "place"),
        (),
        ("energyvoice.net", "gridreport.com"),
        (
            ("oil prices", ("crude oil", "opec", "gas prices", "barrels")),
            ("solar power", ("solar panels", "solar farm", "renewables", "rooftop solar")),
            ("nuclear energy", ("nuclear plant", "reactor", "uranium", "fusion")),
            ("power grid", ("grid", "blackout", "utilities", "electricity prices")),
            ("natural gas exports", ("lng", "natural gas", "pipeline", "gas exports")),
            ("wind energy", ("wind farm", "offshore wind", "turbines", "wind power")),
        ),
    ),
    (
        "autos",
        ("company", "person"),
        ("Tesla", "Toyota", "Ford"),
        ("autoweek.net", "motorhub.com"),
        (
            ("electric vehicles", ("ev", "electric car", "battery range", "charging stations")),
            ("vehicle recall", ("recall", "airbags", "safety defect", "nhtsa")),
            ("self driving cars", ("autonomous", "robotaxi", "driverless", "autopilot")),
            ("car sales", ("auto sales", "dealers", "car prices", "sales figures")),
            ("pickup trucks", ("pickup truck", "towing", "truck lineup", "hybrid truck")),
            ("auto workers strike", ("union", "strike", "factory", "wages")),
        ),
    ),
    (
        "football",
        ("team", "person"),
        (),
        ("gridironnow.com", "sportsnation.net"),
        (
            ("nfl draft", ("draft picks", "prospects", "mock draft", "first round")),
            (
                "quarterback play",
                ("quarterback", "touchdown passes", "interceptions", "passing yards"),
            ),
            ("football playoffs", ("playoffs", "wild card", "super bowl", "seeding")),
            ("injury report", ("injury", "hamstring", "concussion", "injured reserve")),
            ("coaching changes", ("head coach", "fired", "coordinator", "hiring")),
            ("trade rumors", ("trade", "contract extension", "holdout", "free agent")),
        ),
    ),
    (
        "basketball",
        ("team", "person"),
        (),
        ("hoopscentral.com", "sportsnation.net"),
        (
            ("nba trade deadline", ("trade deadline", "trade talks", "roster", "draft picks")),
            ("mvp race", ("mvp", "triple double", "scoring title", "points per game")),
            ("basketball playoffs", ("playoffs", "conference finals", "game seven", "series")),
            ("rookie season", ("rookie", "draft class", "breakout", "rookie of the year")),
            ("free agency signings", ("free agency", "max contract", "signing", "cap space")),
            ("college basketball", ("march madness", "bracket", "ncaa", "upset")),
        ),
    ),
    (
        "soccer",
        ("team", "person"),
        (),
        ("pitchside.com", "goalzone.net"),
        (
            ("transfer window", ("transfer", "transfer fee", "loan deal", "signing")),
            ("champions league", ("champions league", "knockout stage", "group stage", "final")),
            ("league title race", ("title race", "table", "points", "relegation")),
            ("world cup qualifiers", ("world cup", "qualifiers", "national team", "squad")),
            ("manager sacked", ("manager", "sacked", "tactics", "dressing room")),
            ("goal scoring record", ("hat trick", "goals", "golden boot", "penalty")),
        ),
    ),
    (
        "baseball",
        ("team", "person"),
        (),
        ("diamondreport.com", "sportsnation.net"),
        (
            ("world series", ("world series", "pennant", "postseason", "game one")),
            ("pitching rotation", ("pitcher", "strikeouts", "era", "bullpen")),
            ("home run chase", ("home runs", "slugger", "batting average", "rbi")),
            ("baseball free agency", ("free agent", "contract", "signing", "arbitration")),
            ("trade deadline deals", ("trade deadline", "prospects", "deal", "contender")),
            ("spring training", ("spring training", "roster spot", "minor league", "camp")),
        ),
    ),
    (
        "hockey",
        ("team", "person"),
        (),
        ("icetime.net", "sportsnation.net"),
        (
            ("stanley cup playoffs", ("stanley cup", "playoffs", "overtime", "series")),
            ("goalie performance", ("goalie", "saves", "shutout", "save percentage")),
            ("hockey trades", ("trade", "waivers", "roster", "deadline")),
            ("scoring leaders", ("goals", "assists", "power play", "hat trick")),
        ),
    ),
    (
        "tennis",
        ("person",),
        (),
        ("courtside.net", "tennisdaily.com"),
        (
            ("grand slam tournament", ("grand slam", "wimbledon", "final", "seed")),
            ("tennis rankings", ("world ranking", "number one", "atp", "wta")),
            ("tennis injury", ("withdraws", "injury", "comeback", "retirement")),
            ("tennis upset", ("upset", "straight sets", "tiebreak", "qualifier")),
        ),
    ),
    (
        "golf",
        ("person", "place"),
        (),
        ("fairwaynews.com", "golfdigestive.net"),
        (
            ("golf major championship", ("masters", "major", "leaderboard", "green jacket")),
            ("golf tour rivalry", ("tour", "prize money", "rival league", "players")),
            ("golf equipment", ("driver", "golf clubs", "golf ball", "swing")),
            ("ryder cup", ("ryder cup", "captain", "team europe", "pairings")),
        ),
    ),
    (
        "combat sports",
        ("person",),
        (),
        ("fightnight.net", "ringreport.com"),
        (
            ("title fight", ("title fight", "knockout", "heavyweight", "belt")),
            ("fight card", ("fight card", "main event", "weigh in", "undercard")),
            ("boxing rematch", ("rematch", "split decision", "rounds", "champion")),
        ),
    ),
    (
        "motorsport",
        ("person", "team"),
        (),
        ("pitlane.net", "racingwire.com"),
        (
            ("formula one race", ("grand prix", "pole position", "pit stop", "podium")),
            ("championship standings", ("standings", "title fight", "points lead", "constructors")),
            ("nascar race", ("nascar", "speedway", "restart", "checkered flag")),
            ("racing team changes", ("driver lineup", "team principal", "contract", "seat")),
        ),
    ),
    (
        "movies",
        ("person", "work"),
        (),
        ("screenrant.net", "boxofficebuzz.com"),
        (
            ("box office weekend", ("box office", "opening weekend", "ticket sales", "flop")),
            ("film festival", ("film festival", "premiere", "standing ovation", "jury prize")),
            ("oscar nominations", ("oscars", "best picture", "nominations", "academy awards")),
            ("movie sequel", ("sequel", "franchise", "reboot", "cast")),
            ("movie trailer", ("trailer", "release date", "first look", "teaser")),
        ),
    ),
    (
        "music",
        ("person", "work"),
        (),
        ("soundcheck.net", "chartbeat.fm"),
        (
            ("album release", ("new album", "single", "tracklist", "lyrics")),
            ("concert tour", ("world tour", "tour dates", "concert", "stadium show")),
            ("grammy awards", ("grammys", "nominations", "album of the year", "performance")),
            ("music charts", ("billboard", "chart", "number one hit", "streams")),
        ),
    ),
    (
        "television",
        ("person", "work"),
        (),
        ("tvguideline.com", "streamscene.net"),
        (
            ("series finale", ("finale", "season finale", "ending", "showrunner")),
            ("streaming prices", ("subscription", "price increase", "ad tier", "subscribers")),
            ("reality tv", ("reality show", "contestants", "eliminated", "reunion")),
            ("show renewal", ("renewed", "cancelled", "new season", "spinoff")),
        ),
    ),
    (
        "celebrity",
        ("person",),
        (),
        ("starbuzz.com", "redcarpet.net"),
        (
            ("celebrity wedding", ("wedding", "engaged", "ceremony", "marriage")),
            ("celebrity divorce", ("divorce", "split", "custody", "breakup")),
            ("red carpet fashion", ("red carpet", "gown", "met gala", "designer")),
            ("celebrity lawsuit", ("lawsuit", "defamation", "settlement", "court")),
        ),
    ),
    (
        "gaming",
        ("company", "work"),
        ("Nintendo", "Xbox"),
        ("gamespotter.net", "pixelpress.com"),
        (
            ("console launch", ("console", "preorder", "hardware", "launch lineup")),
            ("esports tournament", ("esports", "championship", "prize pool", "tournament")),
            ("game review", ("review", "gameplay", "open world", "graphics")),
            ("game studio layoffs", ("studio", "layoffs", "developer", "delay")),
        ),
    ),
    (
        "food",
        ("person", "place"),
        (),
        ("foodiefeed.com", "kitchenwire.net"),
        (
            ("restaurant opening", ("restaurant", "chef", "menu", "tasting")),
            ("food recall", ("food recall", "salmonella", "listeria", "contamination")),
            ("recipe trends", ("recipes", "air fryer", "baking", "meal prep")),
            ("grocery prices", ("grocery prices", "eggs", "beef", "food inflation")),
        ),
    ),
    (
        "travel",
        ("company", "place"),
        (),
        ("wanderwire.com", "jetsetnews.net"),
        (
            ("airline delays", ("flight delays", "cancellations", "airline", "airport")),
            ("national parks", ("national park", "hiking", "trail", "park rangers")),
            ("cruise industry", ("cruise ship", "cruise line", "port", "itinerary")),
            ("tourism boom", ("tourists", "overtourism", "hotels", "visitors")),
        ),
    ),
    (
        "real estate",
        ("company", "place"),
        (),
        ("househunt.net", "propertywire.com"),
        (
            ("mortgage rates", ("mortgage rates", "refinancing", "30-year fixed", "lenders")),
            ("rent prices", ("rent", "tenants", "apartments", "rent control")),
            ("home prices", ("home prices", "housing inventory", "bidding wars", "listings")),
            ("commercial real estate", ("office space", "vacancies", "landlords", "remote work")),
        ),
    ),
    (
        "education",
        ("person", "org"),
        (),
        ("campusreport.org", "edweek.net"),
        (
            ("student loans", ("student loans", "loan forgiveness", "tuition", "debt relief")),
            ("college admissions", ("admissions", "sat", "acceptance rate", "applications")),
            ("school board", ("school board", "curriculum", "teachers", "classrooms")),
            ("teacher strike", ("teachers union", "strike", "pay raise", "contract")),
        ),
    ),
    (
        "crime",
        ("person", "place"),
        (),
        ("courtwatch.net", "crimebeat.com"),
        (
            ("murder trial", ("trial", "jury", "verdict", "testimony")),
            ("police investigation", ("investigation", "suspect", "arrest", "detectives")),
            ("fraud charges", ("fraud", "indictment", "prosecutors", "scheme")),
            ("prison sentence", ("sentenced", "prison", "parole", "judge")),
        ),
    ),
    (
        "personal finance",
        ("company", "org"),
        (),
        ("moneywise.net", "budgetnews.com"),
        (
            ("retirement savings", ("401k", "retirement", "pension", "ira")),
            ("tax season", ("taxes", "tax refund", "irs", "deductions")),
            ("credit card debt", ("credit card", "interest", "debt", "credit score")),
            ("social security benefits", ("social security", "benefits", "cola", "retirees")),
        ),
    ),
)

# Pages/sites that carry generic, non-category browsing (used for noise and utility pages).
NEWS_SITES = ("dailyherald.com", "newsbreakers.com", "thechronicle.net", "morningpost.com")

FIRST_NAMES = (
    "James Maria Robert Linda Michael Elena David Sarah Daniel Aisha Carlos Mei Thomas Olivia "
    "Marcus Sofia Andre Hannah Viktor Priya Lucas Grace Omar Chloe Mateo Nadia Ethan Ingrid "
    "Kenji Fatima Samuel Lena Diego Yara Julian Clara Felix Amara Hugo Leila Oscar Ruth "
    "Tobias Keiko Rafael Nora Emil Zara Isaac Maya Adrian Vera Jonah Alina Malik Iris "
    "Stefan Paloma Caleb Eva Rohan Selin Miles Tessa Jorge Anya Dmitri Lucia Bruno Freya"
).split()
LAST_NAMES = (
    "Holloway Brennan Okafor Lindqvist Moreau Castellano Whitaker Nakamura Petrov Adeyemi "
    "Fairbanks Delgado Thornton Kowalski Ashford Ferreira Gallagher Yamada Hendricks Novak "
    "Sinclair Romero Blackwood Haddad Pemberton Vasquez Lachance Ibsen Marchetti Okonkwo "
    "Calloway Dubois Strand Mendez Harrington Kim Abernathy Rossi Eriksen Banerjee "
    "Montgomery Salazar Whitfield Kuznetsov Darrow Achebe Fitzgerald Moretti Langley Oyelaran "
    "Prescott Quintero Rasmussen Takahashi Underwood Valente Winslow Xavier Yilmaz Zeller "
    "Crawford Beaumont Sorensen Alvarez Hargrove Mbeki Lockhart Navarro Pryce Stanton"
).split()
CITIES = (
    "Austin Denver Seattle Boston Chicago Phoenix Atlanta Miami Portland Nashville Detroit "
    "Houston Dallas Orlando Tampa Cleveland Memphis Sacramento Baltimore Pittsburgh Charlotte "
    "Milwaukee Omaha Tucson Raleigh Richmond Toronto Vancouver Montreal London Manchester "
    "Madrid Lisbon Berlin Munich Paris Lyon Milan Naples Vienna Oslo Dublin Sydney Melbourne"
).split()
COUNTRIES = (
    "Canada Mexico Brazil Argentina Chile France Germany Italy Spain Portugal Poland Ukraine "
    "Turkey Egypt Nigeria Kenya India Pakistan Japan Korea Vietnam Indonesia Australia Norway "
    "Sweden Finland Greece Morocco Peru Colombia Israel Jordan Iran Iraq Ethiopia Ghana"
).split()
STATES = (
    "Florida Texas California Ohio Georgia Arizona Nevada Michigan Oregon Colorado Virginia "
    "Louisiana Alabama Carolina Wisconsin Minnesota Iowa Kansas Montana Utah Maine Vermont"
).split()
MASCOTS = (
    "Comets Wolves Falcons Pioneers Rangers Titans Hawks Bears Stallions Raptors Mariners "
    "Thunder Vipers Knights Owls Bison Cougars Storm Sharks Lynx Condors Blaze Miners Eagles"
).split()
BRAND_SYLLABLES = (
    "vel ora nex tri cor quan lum zen ar vox kin sol bri tav mer dyn fal ion rex ula pra "
    "ost ve cal nor ax evo gen pix sy"
).split()
COMPANY_SUFFIX = {
    "technology": ("Labs", "Systems", "AI", "Networks", "Software"),
    "markets": ("Capital", "Holdings", "Group", "Partners"),
    "energy": ("Energy", "Power", "Petroleum", "Renewables"),
    "autos": ("Motors", "Automotive", "EV"),
    "gaming": ("Games", "Interactive", "Studios"),
    "travel": ("Airways", "Airlines", "Cruises", "Resorts"),
    "real estate": ("Realty", "Properties", "Homes"),
    "personal finance": ("Bank", "Financial", "Credit Union"),
}
ORG_PATTERNS = ("{} Institute", "{} Foundation", "{} Agency", "{} Council", "{} University")
WORK_ADJ = "Silent Last Broken Golden Hidden Crimson Endless Distant Wild Hollow Midnight".split()
WORK_NOUN = "Harbor Kingdom Signal Frontier Garden Echo Empire River Crown Horizon Summit".split()
