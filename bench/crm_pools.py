"""Value pools for the synthetic CRM benchmark data (used by ``bench/generate.py``).

Everything here is static reference data plus a few derived tables (Zipf weights,
city -> state -> zip/area-code triples, synthetic rare surnames and brand names). The
derived tables are built from a fixed internal seed, so the pools are identical for
every ``--seed``; only the sampling in ``generate.py`` depends on the user's seed.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

_POOL_SEED = 20240611

# ---------------------------------------------------------------------------- people

# Roughly in order of frequency among US adults; a few accented and non-Anglo names
# are included so that normalisers meet accents and unfamiliar spellings.
FIRST_NAMES: tuple[str, ...] = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda",
    "David", "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica",
    "Thomas", "Sarah", "Christopher", "Karen", "Charles", "Lisa", "Daniel", "Nancy",
    "Matthew", "Betty", "Anthony", "Margaret", "Mark", "Sandra", "Donald", "Ashley",
    "Steven", "Kimberly", "Paul", "Emily", "Andrew", "Donna", "Joshua", "Michelle",
    "Kenneth", "Carol", "Kevin", "Amanda", "Brian", "Dorothy", "George", "Melissa",
    "Timothy", "Deborah", "Ronald", "Stephanie", "Edward", "Rebecca", "Jason", "Sharon",
    "Jeffrey", "Laura", "Ryan", "Cynthia", "Jacob", "Kathleen", "Gary", "Amy",
    "Nicholas", "Angela", "Eric", "Shirley", "Jonathan", "Anna", "Stephen", "Brenda",
    "Larry", "Pamela", "Justin", "Emma", "Scott", "Nicole", "Brandon", "Helen",
    "Benjamin", "Samantha", "Samuel", "Katherine", "Gregory", "Christine", "Alexander",
    "Debra", "Frank", "Rachel", "Patrick", "Carolyn", "Raymond", "Janet", "Jack",
    "Catherine", "Dennis", "Maria", "Jerry", "Heather", "Tyler", "Diane", "Aaron",
    "Ruth", "Jose", "Julie", "Adam", "Olivia", "Nathan", "Joyce", "Henry", "Virginia",
    "Douglas", "Victoria", "Zachary", "Kelly", "Peter", "Lauren", "Kyle", "Christina",
    "Ethan", "Joan", "Walter", "Evelyn", "Noah", "Judith", "Jeremy", "Megan",
    "Christian", "Andrea", "Keith", "Cheryl", "Roger", "Hannah", "Terry", "Jacqueline",
    "Gerald", "Martha", "Harold", "Gloria", "Sean", "Teresa", "Austin", "Ann", "Carl",
    "Sara", "Arthur", "Madison", "Lawrence", "Frances", "Dylan", "Kathryn", "Jesse",
    "Janice", "Jordan", "Jean", "Bryan", "Abigail", "Billy", "Alice", "Joe", "Julia",
    "Bruce", "Judy", "Gabriel", "Sophia", "Logan", "Grace", "Albert", "Denise",
    "Willie", "Amber", "Alan", "Doris", "Juan", "Marilyn", "Wayne", "Danielle",
    "Elijah", "Beverly", "Randy", "Isabella", "Roy", "Theresa", "Vincent", "Diana",
    "Ralph", "Natalie", "Eugene", "Brittany", "Russell", "Charlotte", "Bobby", "Marie",
    "Mason", "Kayla", "Philip", "Alexis", "Louis", "Lori", "Harry", "Tiffany",
    "Howard", "Rose", "Leonard", "Eleanor", "Theodore", "Josephine", "Frederick",
    "Alexandra", "Stanley", "Erin", "Fred", "Sylvia", "Carlos", "Valerie", "Luis",
    "Monica", "Miguel", "Rita", "Jorge", "Tina", "Antonio", "Vanessa", "Manuel",
    "Wendy", "Marcus", "Sofia", "Diego", "Camila", "Alejandro", "Valentina", "Mateo",
    "Lucia", "Santiago", "Ximena", "Mohammed", "Fatima", "Ahmed", "Aisha", "Omar",
    "Leila", "Ali", "Yasmin", "Hassan", "Priya", "Raj", "Anjali", "Arjun", "Deepa",
    "Vikram", "Sanjay", "Wei", "Mei", "Jun", "Ling", "Hiroshi", "Yuki", "Kenji",
    "Sakura", "Minh", "Linh", "DeShawn", "Aaliyah", "Jamal", "Imani", "Tyrone",
    "Keisha", "Xavier", "Siobhan", "Declan", "Niamh", "Sven", "Ingrid", "Lars",
    "Astrid", "Dmitri", "Olga", "Ivan", "Natasha", "Sergei", "Ngozi", "Chidi",
    "Kwame", "Ama", "José", "Zoë", "Renée", "André", "Chloé", "Béatrice", "François",
    "Søren", "Björn", "Clifford", "Winifred", "Percival", "Gwendolyn", "Bernadette",
    "Cornelius", "Millicent", "Ignatius", "Prudence", "Thaddeus", "Philippa",
    "Ezekiel", "Temperance", "Augustus", "Cordelia", "Barnaby", "Rosalind",
)

# Formal name -> its common nicknames (the first nickname is the most common).
NICKNAMES: dict[str, tuple[str, ...]] = {
    "Robert": ("Bob", "Rob", "Bobby", "Robbie"),
    "William": ("Bill", "Will", "Billy", "Liam"),
    "Elizabeth": ("Liz", "Beth", "Betsy", "Lizzie", "Eliza"),
    "Katherine": ("Kate", "Kathy", "Katie"),
    "Catherine": ("Cathy", "Kate", "Cat"),
    "Kathleen": ("Kathy", "Kath"),
    "Kathryn": ("Kate", "Kathy"),
    "Michael": ("Mike", "Mikey"),
    "James": ("Jim", "Jimmy", "Jamie"),
    "Jennifer": ("Jen", "Jenny"),
    "Margaret": ("Peggy", "Maggie", "Meg", "Marge"),
    "Richard": ("Dick", "Rick", "Rich", "Richie"),
    "Thomas": ("Tom", "Tommy"),
    "Joseph": ("Joe", "Joey"),
    "Charles": ("Chuck", "Charlie"),
    "Christopher": ("Chris", "Topher"),
    "Daniel": ("Dan", "Danny"),
    "Matthew": ("Matt",),
    "Anthony": ("Tony",),
    "Steven": ("Steve",),
    "Stephen": ("Steve",),
    "Andrew": ("Andy", "Drew"),
    "Joshua": ("Josh",),
    "Kenneth": ("Ken", "Kenny"),
    "Timothy": ("Tim", "Timmy"),
    "Edward": ("Ed", "Eddie", "Ted"),
    "Jeffrey": ("Jeff",),
    "Nicholas": ("Nick", "Nicky"),
    "Jonathan": ("Jon", "Johnny"),
    "John": ("Jack", "Johnny"),
    "Samuel": ("Sam", "Sammy"),
    "Benjamin": ("Ben", "Benny"),
    "Alexander": ("Alex", "Xander"),
    "Alexandra": ("Alex", "Lexi", "Sandra"),
    "Gregory": ("Greg",),
    "Patrick": ("Pat", "Paddy"),
    "Raymond": ("Ray",),
    "Gerald": ("Jerry", "Gerry"),
    "Lawrence": ("Larry",),
    "Philip": ("Phil",),
    "Douglas": ("Doug",),
    "Zachary": ("Zach", "Zack"),
    "Peter": ("Pete",),
    "Frederick": ("Fred", "Freddie"),
    "Theodore": ("Ted", "Teddy", "Theo"),
    "Leonard": ("Len", "Lenny", "Leo"),
    "Albert": ("Al", "Bert"),
    "Ronald": ("Ron", "Ronnie"),
    "Donald": ("Don", "Donnie"),
    "Patricia": ("Pat", "Patty", "Trish"),
    "Susan": ("Sue", "Susie"),
    "Deborah": ("Deb", "Debbie"),
    "Debra": ("Deb", "Debbie"),
    "Rebecca": ("Becky", "Becca"),
    "Cynthia": ("Cindy",),
    "Pamela": ("Pam",),
    "Samantha": ("Sam", "Sammie"),
    "Christine": ("Chris", "Chrissy"),
    "Christina": ("Tina", "Chris"),
    "Victoria": ("Vicky", "Tori"),
    "Jacqueline": ("Jackie",),
    "Judith": ("Judy",),
    "Dorothy": ("Dot", "Dottie"),
    "Abigail": ("Abby",),
    "Kimberly": ("Kim",),
    "Amanda": ("Mandy",),
    "Stephanie": ("Steph",),
    "Jessica": ("Jess", "Jessie"),
    "Barbara": ("Barb", "Babs"),
    "Virginia": ("Ginny",),
    "Frances": ("Fran", "Frankie"),
    "Theresa": ("Terry", "Tess"),
    "Teresa": ("Terry", "Tess"),
    "Nathan": ("Nate",),
    "Gabriel": ("Gabe",),
    "Vincent": ("Vince", "Vinny"),
    "Eugene": ("Gene",),
    "Walter": ("Walt",),
    "Russell": ("Russ",),
    "Harold": ("Hal", "Harry"),
    "Henry": ("Hank", "Harry"),
    "Isabella": ("Bella", "Izzy"),
    "Eleanor": ("Ellie", "Nell"),
    "Josephine": ("Jo", "Josie"),
    "Madison": ("Maddie",),
    "Natalie": ("Nat",),
    "Stanley": ("Stan",),
    "Valerie": ("Val",),
    "Gwendolyn": ("Gwen",),
    "Millicent": ("Millie",),
    "Augustus": ("Gus",),
    "Cornelius": ("Neil",),
}

# Most common US surnames in frequency order, then a sprinkling of less common ones
# (apostrophes, hyphens, accents, non-Anglo). Synthetic rare surnames are appended.
COMMON_SURNAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
    "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson",
    "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson",
    "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker",
    "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
    "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell",
    "Carter", "Roberts", "Gomez", "Phillips", "Evans", "Turner", "Diaz", "Parker",
    "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris", "Morales", "Murphy",
    "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson", "Bailey",
    "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson",
    "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes",
    "Price", "Alvarez", "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross",
    "Foster", "Jimenez", "Powell", "Jenkins", "Perry", "Russell", "Sullivan", "Bell",
    "Coleman", "Butler", "Henderson", "Barnes", "Gonzales", "Fisher", "Vasquez",
    "Simmons", "Romero", "Jordan", "Patterson", "Alexander", "Hamilton", "Graham",
    "Reynolds", "Griffin", "Wallace", "Moreno", "West", "Cole", "Hayes", "Bryant",
    "Herrera", "Gibson", "Ellis", "Tran", "Medina", "Aguilar", "Stevens", "Murray",
    "Ford", "Castro", "Marshall", "Owens", "Harrison", "Fernandez", "McDonald", "Woods",
    "Washington", "Kennedy", "Wells", "Vargas", "Henry", "Chen", "Freeman", "Webb",
    "Tucker", "Guzman", "Burns", "Crawford", "Olson", "Simpson", "Porter", "Hunter",
    "Gordon", "Mendez", "Silva", "Shaw", "Snyder", "Mason", "Dixon", "Munoz", "Hunt",
    "Hicks", "Holmes", "Palmer", "Wagner", "Black", "Robertson", "Boyd", "Rose",
    "Stone", "Salazar", "Fox", "Warren", "Mills", "Meyer", "Rice", "Schmidt", "Garza",
    "Daniels", "Ferguson", "Nichols", "Stephens", "Soto", "Weaver", "Ryan", "Gardner",
    "Payne", "Grant", "Dunn", "Kelley", "Spencer", "Hawkins", "Arnold", "Pierce",
    "Vazquez", "Hansen", "Peters", "Santos", "Hart", "Bradley", "Knight", "Elliott",
    "Cunningham", "Duncan", "Armstrong", "Hudson", "Carroll", "Lane", "Riley",
    "Andrews", "Alvarado", "Ray", "Delgado", "Berry", "Perkins", "Hoffman", "Johnston",
    "Matthews", "Pena", "Richards", "Contreras", "Willis", "Carpenter", "Lawrence",
    "Sandoval", "O'Brien", "O'Connor", "O'Neill", "McCarthy", "MacDonald", "McKenzie",
    "Smith-Jones", "Garcia-Lopez", "Müller", "García", "Núñez", "Peña", "Muñoz",
    "Wong", "Zhang", "Wang", "Li", "Liu", "Huang", "Yamamoto", "Tanaka", "Sato",
    "Kowalski", "Nowak", "Ivanov", "Petrov", "Okafor", "Adeyemi", "Mensah", "Schneider",
    "Fischer", "Weber", "Dubois", "Lefebvre", "Rossi", "Russo", "Bianchi", "Cohen",
    "Levy", "Goldberg", "Singh", "Kumar", "Shah", "Gupta", "Khan", "Ali", "Hussein",
    "Nakamura", "Park", "Choi", "Jung", "Van der Berg", "De la Cruz", "St. John",
)

_SURNAME_ONSETS = (
    "Ab", "Al", "Ash", "Bar", "Bel", "Bran", "Brock", "Cal", "Car", "Cres", "Dal", "Dar",
    "Dun", "El", "Fair", "Fen", "Gal", "Gar", "Glen", "Hal", "Har", "Hol", "Kel", "Ken",
    "Kir", "Lan", "Lind", "Mar", "Mel", "Mor", "Nor", "Oak", "Pem", "Pres", "Quil",
    "Rad", "Ral", "Ros", "Sel", "Shel", "Stan", "Tal", "Thorn", "Tor", "Val", "War",
    "Wes", "Whit", "Win", "Yar",
)
_SURNAME_MIDDLES = ("", "", "a", "e", "i", "o", "en", "er", "ing", "ow", "und", "ham")
_SURNAME_ENDINGS = (
    "ton", "son", "by", "ley", "man", "field", "wood", "stein", "berg", "ski", "ford",
    "well", "ridge", "land", "more", "worth", "croft", "dale", "mont", "wick", "ley",
    "ston", "hurst", "brook", "combe", "den", "shaw", "ett", "ard", "ick",
)

# ----------------------------------------------------------------------- addresses

# state -> (full name, population weight, zip3 range, area codes)
STATES: dict[str, tuple[str, float, tuple[int, int], tuple[int, ...]]] = {
    "CA": ("California", 39.0, (900, 961), (213, 310, 415, 510, 408, 619, 714, 818, 916)),
    "TX": ("Texas", 30.0, (750, 799), (214, 469, 972, 713, 281, 832, 512, 210, 817, 915)),
    "FL": ("Florida", 22.0, (320, 349), (305, 786, 954, 561, 407, 321, 813, 727, 904)),
    "NY": ("New York", 19.5, (100, 149), (212, 718, 917, 347, 516, 631, 914, 585, 716)),
    "PA": ("Pennsylvania", 13.0, (150, 196), (215, 267, 412, 610, 717, 814, 570)),
    "IL": ("Illinois", 12.5, (600, 629), (312, 773, 872, 630, 708, 847, 815, 217, 309)),
    "OH": ("Ohio", 11.8, (430, 458), (216, 614, 513, 330, 419, 440, 937)),
    "GA": ("Georgia", 11.0, (300, 319), (404, 678, 770, 470, 706, 912)),
    "NC": ("North Carolina", 10.7, (270, 289), (704, 919, 336, 252, 828, 910)),
    "MI": ("Michigan", 10.0, (480, 499), (313, 248, 734, 616, 517, 810, 269)),
    "NJ": ("New Jersey", 9.3, (70, 89), (201, 973, 732, 908, 856, 609)),
    "VA": ("Virginia", 8.7, (220, 246), (703, 571, 804, 757, 540)),
    "WA": ("Washington", 7.8, (980, 994), (206, 425, 253, 360, 509)),
    "AZ": ("Arizona", 7.4, (850, 865), (602, 480, 623, 520, 928)),
    "MA": ("Massachusetts", 7.0, (10, 27), (617, 508, 781, 978, 413)),
    "TN": ("Tennessee", 7.0, (370, 385), (615, 901, 865, 423, 731)),
    "IN": ("Indiana", 6.8, (460, 479), (317, 219, 260, 574, 765)),
    "MO": ("Missouri", 6.2, (630, 658), (314, 816, 417, 573, 636)),
    "MD": ("Maryland", 6.2, (206, 219), (410, 443, 301, 240)),
    "WI": ("Wisconsin", 5.9, (530, 549), (414, 608, 262, 920)),
    "CO": ("Colorado", 5.8, (800, 816), (303, 720, 719, 970)),
    "MN": ("Minnesota", 5.7, (550, 567), (612, 651, 763, 952, 218)),
    "SC": ("South Carolina", 5.3, (290, 299), (803, 843, 864)),
    "AL": ("Alabama", 5.1, (350, 369), (205, 251, 256, 334)),
    "LA": ("Louisiana", 4.6, (700, 714), (504, 225, 318, 337)),
    "KY": ("Kentucky", 4.5, (400, 427), (502, 859, 270, 606)),
    "OR": ("Oregon", 4.2, (970, 979), (503, 971, 541)),
    "OK": ("Oklahoma", 4.0, (730, 749), (405, 918, 580)),
    "CT": ("Connecticut", 3.6, (60, 69), (203, 860, 475)),
    "UT": ("Utah", 3.4, (840, 847), (801, 385, 435)),
    "IA": ("Iowa", 3.2, (500, 528), (515, 319, 563)),
    "NV": ("Nevada", 3.2, (889, 898), (702, 725, 775)),
    "KS": ("Kansas", 2.9, (660, 679), (316, 785, 913)),
    "ME": ("Maine", 1.4, (39, 49), (207,)),
}

# Cities per state, largest first. Names recurring across states (Springfield,
# Portland, Columbus, Columbia, Aurora, Kansas City...) are deliberate.
CITIES_BY_STATE: dict[str, tuple[str, ...]] = {
    "CA": ("Los Angeles", "San Diego", "San Jose", "San Francisco", "Fresno",
           "Sacramento", "Long Beach", "Oakland", "Bakersfield", "Anaheim", "Irvine",
           "Riverside", "Santa Rosa", "Pasadena"),
    "TX": ("Houston", "San Antonio", "Dallas", "Austin", "Fort Worth", "El Paso",
           "Arlington", "Plano", "Lubbock", "Laredo", "Irving"),
    "FL": ("Jacksonville", "Miami", "Tampa", "Orlando", "St. Petersburg", "Hialeah",
           "Tallahassee", "Fort Lauderdale", "Cape Coral", "Gainesville"),
    "NY": ("New York", "Brooklyn", "Buffalo", "Rochester", "Yonkers", "Syracuse",
           "Albany", "White Plains", "Ithaca"),
    "PA": ("Philadelphia", "Pittsburgh", "Allentown", "Erie", "Reading", "Scranton",
           "Lancaster", "Harrisburg"),
    "IL": ("Chicago", "Aurora", "Naperville", "Joliet", "Rockford", "Springfield",
           "Peoria", "Evanston"),
    "OH": ("Columbus", "Cleveland", "Cincinnati", "Toledo", "Akron", "Dayton",
           "Springfield"),
    "GA": ("Atlanta", "Augusta", "Columbus", "Macon", "Savannah", "Athens"),
    "NC": ("Charlotte", "Raleigh", "Greensboro", "Durham", "Winston-Salem",
           "Fayetteville", "Asheville", "Greenville"),
    "MI": ("Detroit", "Grand Rapids", "Warren", "Sterling Heights", "Ann Arbor",
           "Lansing", "Flint", "Kalamazoo"),
    "NJ": ("Newark", "Jersey City", "Paterson", "Elizabeth", "Trenton", "Camden",
           "Princeton", "Hoboken"),
    "VA": ("Virginia Beach", "Norfolk", "Chesapeake", "Richmond", "Arlington",
           "Alexandria", "Roanoke"),
    "WA": ("Seattle", "Spokane", "Tacoma", "Vancouver", "Bellevue", "Everett",
           "Olympia"),
    "AZ": ("Phoenix", "Tucson", "Mesa", "Chandler", "Scottsdale", "Glendale", "Tempe",
           "Flagstaff"),
    "MA": ("Boston", "Worcester", "Springfield", "Cambridge", "Lowell", "Quincy",
           "Salem"),
    "TN": ("Nashville", "Memphis", "Knoxville", "Chattanooga", "Clarksville",
           "Franklin", "Jackson"),
    "IN": ("Indianapolis", "Fort Wayne", "Evansville", "South Bend", "Bloomington",
           "Carmel"),
    "MO": ("Kansas City", "St. Louis", "Springfield", "Columbia", "Independence"),
    "MD": ("Baltimore", "Columbia", "Germantown", "Silver Spring", "Frederick",
           "Annapolis"),
    "WI": ("Milwaukee", "Madison", "Green Bay", "Kenosha", "Racine"),
    "CO": ("Denver", "Colorado Springs", "Aurora", "Fort Collins", "Boulder",
           "Lakewood"),
    "MN": ("Minneapolis", "St. Paul", "Rochester", "Duluth", "Bloomington"),
    "SC": ("Columbia", "Charleston", "Greenville"),
    "AL": ("Birmingham", "Montgomery", "Huntsville", "Mobile"),
    "LA": ("New Orleans", "Baton Rouge", "Shreveport", "Lafayette"),
    "KY": ("Louisville", "Lexington", "Bowling Green", "Frankfort"),
    "OR": ("Portland", "Eugene", "Salem", "Gresham", "Bend"),
    "OK": ("Oklahoma City", "Tulsa", "Norman"),
    "CT": ("Bridgeport", "New Haven", "Hartford", "Stamford"),
    "UT": ("Salt Lake City", "Provo", "Ogden", "St. George"),
    "IA": ("Des Moines", "Cedar Rapids", "Davenport"),
    "NV": ("Las Vegas", "Henderson", "Reno"),
    "KS": ("Wichita", "Overland Park", "Kansas City", "Topeka"),
    "ME": ("Portland", "Lewiston", "Bangor"),
}

STREET_NAMES: tuple[str, ...] = (
    "Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park",
    "Walnut", "Spring", "North", "Ridge", "Church", "Willow", "Mill", "Sunset",
    "Railroad", "Jackson", "Cherry", "Highland", "Jefferson", "Lincoln", "Center",
    "Franklin", "Madison", "Adams", "Chestnut", "Meadow", "River", "Forest", "Valley",
    "Lakeview", "Broad", "Market", "Water", "Union", "Prospect", "Front", "High",
    "School", "Bridge", "Grove", "Orchard", "Birch", "Sycamore", "Dogwood", "Hickory",
    "Magnolia", "Laurel", "Poplar", "Spruce", "Aspen", "1st", "2nd", "3rd", "4th",
    "5th", "6th", "7th", "8th", "10th", "12th", "Martin Luther King Jr", "Country Club",
    "Old Mill", "Fairview", "Woodland", "Riverside", "Belmont", "Cambridge", "Oxford",
    "Kingston", "Heritage", "Colonial", "Liberty", "Independence", "Pleasant", "Green",
    "Sunrise", "Canyon", "Mesa", "Vista", "Harbor", "Bay", "Ocean", "Beach", "Shore",
    "Summit", "Hillcrest", "Glenwood", "Brookside", "Cherry Hill", "Oak Ridge",
    "Peachtree", "Wilshire", "Commerce", "Industrial", "Airport", "Technology",
    "Corporate", "Executive", "Enterprise", "Innovation",
)

# (full, abbreviation, weight)
STREET_TYPES: tuple[tuple[str, str, float], ...] = (
    ("Street", "St", 0.30), ("Avenue", "Ave", 0.20), ("Road", "Rd", 0.12),
    ("Drive", "Dr", 0.12), ("Lane", "Ln", 0.07), ("Boulevard", "Blvd", 0.05),
    ("Court", "Ct", 0.05), ("Place", "Pl", 0.04), ("Parkway", "Pkwy", 0.02),
    ("Circle", "Cir", 0.03),
)

# ------------------------------------------------------------------------- email

FREE_PROVIDERS: tuple[tuple[str, float], ...] = (
    ("gmail.com", 0.45), ("yahoo.com", 0.18), ("outlook.com", 0.10),
    ("hotmail.com", 0.12), ("aol.com", 0.05), ("icloud.com", 0.07), ("comcast.net", 0.03),
)
PLUS_TAGS: tuple[str, ...] = (
    "crm", "news", "work", "promo", "shop", "sales", "2019", "events", "list", "spam",
)

# --------------------------------------------------------------------- companies

COMPANY_LEADS: tuple[str, ...] = (
    "Acme", "Summit", "Apex", "Pinnacle", "Horizon", "Pioneer", "Vanguard", "Keystone",
    "Evergreen", "Silverline", "Bluewater", "Redwood", "Ironclad", "Northstar",
    "Crescent", "Beacon", "Meridian", "Sterling", "Liberty", "Heritage", "Atlas",
    "Titan", "Orion", "Nova", "Zenith", "Catalyst", "Quantum", "Vertex", "Synergy",
    "Nexus", "Cobalt", "Granite", "Cedar", "Oakridge", "Lakeshore", "Riverbend",
    "Clearview", "Brightpath", "Trueline", "Goldleaf", "Bluebird", "Falcon", "Eagle",
    "Harbor", "Frontier", "Prairie", "Coastal", "Mountain", "Valley", "Metro", "Urban",
    "Global", "National", "American", "United", "Pacific", "Atlantic", "Northern",
    "Southern", "Western", "Eastern", "Central", "First", "Premier", "Advanced",
    "Integrated", "Strategic", "Dynamic", "Innovative", "Precision", "Reliable",
    "Superior", "Allied", "Consolidated", "General", "International", "Continental",
    "Standard", "Universal", "Royal", "Capital", "Empire", "Patriot", "Landmark",
    "Cornerstone", "Blue Ridge", "Red Rock", "Silver Lake", "Green Valley", "Sun Coast",
    "Iron Bridge", "Stonegate", "Fairway", "Westbrook", "Eastgate", "Highpoint",
    "Lighthouse", "Anchor", "Compass", "Keyway", "Trident", "Phoenix", "Spartan",
    "Sentinel", "Guardian", "Paragon", "Prestige", "Signature", "Evolve", "Elevate",
    "Ascend", "Momentum", "Insight", "Vision", "Spectrum", "Prism", "Radiant", "Solstice",
)
COMPANY_CONNECTORS: tuple[str, ...] = (
    "Data", "Business", "Micro", "Power", "Home", "Water", "Air", "Steel", "Auto",
    "Office", "Medical", "Dental", "Freight", "Cloud", "Solar", "Digital", "Machine",
    "Energy", "Health", "Food", "Retail", "Network", "Financial", "Property", "Marine",
    "Aero", "Bio", "Chemical", "Paper", "Glass", "Textile", "Print", "Packaging",
    "Security", "Travel", "Learning", "Family", "Farm", "Pet", "Sports",
)
COMPANY_INDUSTRIES: tuple[str, ...] = (
    "Logistics", "Foods", "Software", "Systems", "Solutions", "Technologies",
    "Consulting", "Partners", "Holdings", "Health", "Healthcare", "Media", "Industries",
    "Manufacturing", "Energy", "Capital", "Financial", "Insurance", "Realty",
    "Properties", "Construction", "Engineering", "Labs", "Analytics", "Networks",
    "Communications", "Pharmaceuticals", "Biotech", "Motors", "Electric", "Supply",
    "Distribution", "Services", "Design", "Marketing", "Ventures", "Outfitters",
    "Brewing", "Bakery", "Dental", "Legal", "Robotics", "Instruments", "Devices",
    "Materials", "Logistics Group", "Advisors", "Associates", "Enterprises", "Products",
    "Food & Beverage", "Heating & Cooling", "Oil & Gas", "Arts & Crafts",
    "Tool & Die", "Bed & Breakfast", "Research", "Studios", "Trading", "Transport",
)
FAMILY_FIRM_TAILS: tuple[str, ...] = ("& Sons", "and Sons", "& Associates", "Brothers")

_BRAND_ONSETS = (
    "Ab", "Ac", "Al", "Am", "An", "Ar", "Av", "Ax", "Bel", "Bri", "Cal", "Cor", "Cy",
    "Dax", "Del", "Dyn", "El", "En", "Ev", "Fal", "Fin", "Gal", "Gen", "Hal", "Hex", "In",
    "Jun", "Kin", "Lum", "Mag", "Mer", "Nov", "Ol", "Om", "Pax", "Pro", "Quor", "Rad",
    "Sol", "Syn", "Tal", "Tec", "Ul", "Ver", "Vol", "Wex", "Xen", "Zen", "Zor", "Kal",
)
_BRAND_NUCLEI = ("", "a", "e", "i", "o", "u", "ara", "era", "ino", "ova", "ari", "eon",
                 "ix", "ar", "en")
_BRAND_CODAS = (
    "tech", "tron", "trix", "via", "ly", "ify", "io", "ora", "ex", "ent", "ium", "is",
    "on", "ax", "yx", "ica", "core", "gen", "net", "soft", "works", "wave", "point",
    "path", "line", "sphere", "scape", "forge", "labs", "stream", "bridge", "field",
    "stone", "ridge", "crest", "port", "mark", "vista", "quest", "shift", "sync", "wise",
    "logic", "matic", "ado", "ana", "ity", "era", "us", "al",
)

# Legal suffix -> its family; a "suffix change" stays in the family or changes family.
LEGAL_SUFFIXES: tuple[tuple[str, float], ...] = (
    ("Inc", 0.20), ("LLC", 0.22), ("Corp", 0.10), ("Corporation", 0.06),
    ("Incorporated", 0.03), ("Co", 0.05), ("Ltd", 0.05), ("GmbH", 0.02), ("LLP", 0.02),
    ("", 0.25),
)
SUFFIX_FAMILIES: tuple[tuple[str, ...], ...] = (
    ("Inc", "Inc.", "Incorporated"),
    ("Corp", "Corp.", "Corporation"),
    ("LLC", "L.L.C.", "Llc"),
    ("Ltd", "Ltd.", "Limited"),
    ("Co", "Co.", "Company"),
    ("GmbH",),
    ("LLP", "L.L.P."),
)
ACRONYM_STOPWORDS = frozenset({"&", "and", "of", "the", "for"})

WEBSITE_TLDS: tuple[tuple[str, float], ...] = (
    (".com", 0.72), (".io", 0.06), (".net", 0.08), (".co", 0.05), (".us", 0.04),
    (".biz", 0.02), (".org", 0.03),
)


# ------------------------------------------------------------------ derived tables


def ascii_fold(text: str) -> str:
    """Strip accents: ``"Zoë Núñez"`` -> ``"Zoe Nunez"``."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def slug(text: str) -> str:
    """Lower-case ASCII letters and digits only (for e-mail local parts and domains)."""
    return "".join(ch for ch in ascii_fold(text).lower() if ch.isalnum())


def zipf_weights(n: int, exponent: float = 1.0, offset: float = 1.0) -> np.ndarray:
    """Normalised weights proportional to ``1 / (rank + offset) ** exponent``."""
    ranks = np.arange(n, dtype=np.float64)
    weights = 1.0 / (ranks + offset) ** exponent
    return weights / weights.sum()


@dataclass(frozen=True)
class CityTable:
    """Flat city table with consistent city -> state -> zip/area-code triples."""

    city: np.ndarray  # str, one entry per city
    state: np.ndarray  # two-letter code
    state_full: np.ndarray
    weight: np.ndarray  # sampling probability
    zip_offset: np.ndarray  # city i owns zips[zip_offset[i] : zip_offset[i] + zip_count[i]]
    zip_count: np.ndarray
    zips: np.ndarray  # str, 5 digits
    area_offset: np.ndarray
    area_count: np.ndarray
    area_codes: np.ndarray  # int


@lru_cache(maxsize=1)
def city_table() -> CityTable:
    """Build the city table (deterministic, independent of the user's seed)."""
    rng = np.random.default_rng(_POOL_SEED)
    cities: list[str] = []
    states: list[str] = []
    fulls: list[str] = []
    weights: list[float] = []
    zips: list[str] = []
    area_codes: list[int] = []
    zip_offset: list[int] = []
    zip_count: list[int] = []
    area_offset: list[int] = []
    area_count: list[int] = []
    used_zips: set[str] = set()
    for state, (full, pop, (z_lo, z_hi), codes) in STATES.items():
        names = CITIES_BY_STATE[state]
        city_w = 1.0 / (np.arange(len(names)) + 1.0) ** 1.1
        city_w = city_w / city_w.sum() * pop
        for rank, name in enumerate(names):
            cities.append(name)
            states.append(state)
            fulls.append(full)
            weights.append(city_w[rank])
            n_zip = max(2, int(14 / (rank + 1)))
            zip3 = int(rng.integers(z_lo, z_hi + 1))
            own: list[str] = []
            while len(own) < n_zip:
                candidate = f"{zip3:03d}{int(rng.integers(1, 99)):02d}"
                if candidate not in used_zips:
                    used_zips.add(candidate)
                    own.append(candidate)
            zip_offset.append(len(zips))
            zip_count.append(len(own))
            zips.extend(own)
            n_area = min(len(codes), 1 + (rank < 3) + (rank == 0))
            start = rank % len(codes)
            mine = [codes[(start + k) % len(codes)] for k in range(n_area)]
            area_offset.append(len(area_codes))
            area_count.append(len(mine))
            area_codes.extend(mine)
    w = np.asarray(weights)
    return CityTable(
        city=np.asarray(cities, dtype=object),
        state=np.asarray(states, dtype=object),
        state_full=np.asarray(fulls, dtype=object),
        weight=w / w.sum(),
        zip_offset=np.asarray(zip_offset),
        zip_count=np.asarray(zip_count),
        zips=np.asarray(zips, dtype=object),
        area_offset=np.asarray(area_offset),
        area_count=np.asarray(area_count),
        area_codes=np.asarray(area_codes),
    )


@lru_cache(maxsize=1)
def surnames(n_total: int = 2500) -> tuple[str, ...]:
    """Common surnames followed by synthetic rare ones (syllable-built), ``n_total`` in all."""
    rng = np.random.default_rng(_POOL_SEED + 1)
    seen = {s.lower() for s in COMMON_SURNAMES}
    out = list(COMMON_SURNAMES)
    while len(out) < n_total:
        name = (
            _SURNAME_ONSETS[rng.integers(len(_SURNAME_ONSETS))]
            + _SURNAME_MIDDLES[rng.integers(len(_SURNAME_MIDDLES))]
            + _SURNAME_ENDINGS[rng.integers(len(_SURNAME_ENDINGS))]
        )
        if name.lower() not in seen:
            seen.add(name.lower())
            out.append(name)
    return tuple(out)


def surname_weights(n_total: int = 2500) -> np.ndarray:
    """Zipf weights: Smith most common; the synthetic tail is rare but not vanishing."""
    return zipf_weights(n_total, exponent=0.95, offset=2.0)


def first_name_weights() -> np.ndarray:
    """Zipf-like weights over ``FIRST_NAMES`` (order = popularity)."""
    return zipf_weights(len(FIRST_NAMES), exponent=0.9, offset=3.0)


@lru_cache(maxsize=1)
def brand_names() -> tuple[str, ...]:
    """Invented one-word brand names such as "Zenaratech" (unique, order randomised)."""
    seen: set[str] = set()
    out: list[str] = []
    for onset in _BRAND_ONSETS:
        for nucleus in _BRAND_NUCLEI:
            for coda in _BRAND_CODAS:
                name = onset + nucleus + coda
                if name.lower() not in seen:
                    seen.add(name.lower())
                    out.append(name)
    rng = np.random.default_rng(_POOL_SEED + 2)
    order = rng.permutation(len(out))
    return tuple(out[i] for i in order)


def nickname_group(first_name: str) -> tuple[str, ...]:
    """All alternative spellings for a first name (formal and nicknames) except itself."""
    return _nickname_lookup().get(first_name, ())


@lru_cache(maxsize=1)
def _nickname_lookup() -> dict[str, tuple[str, ...]]:
    groups: dict[str, set[str]] = {}
    for formal, nicks in NICKNAMES.items():
        for nick in nicks:
            groups.setdefault(formal, set()).add(nick)
            groups.setdefault(nick, set()).add(formal)
    return {name: tuple(sorted(alts)) for name, alts in groups.items()}
