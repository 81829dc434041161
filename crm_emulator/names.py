"""Word lists for realistic generated values (names, places, products)."""

FIRST_NAMES = (
    "Aaron Abigail Adam Adrian Aisha Alan Albert Alexandra Alice Amelia Amir Ana Andrea Andrew Angela Anna Anthony "
    "Arjun Ava Barbara Benjamin Bianca Brian Bruno Camila Carlos Carmen Caroline Catherine Charles Chen Chloe "
    "Christopher Claire Daniel David Deborah Diana Diego Dmitri Dorothy Edward Elena Elijah Elizabeth Emily Emma "
    "Eric Ethan Eva Fatima Felix Fernando Fiona Francesca Gabriel George Grace Hana Hannah Harper Henry Hiroshi "
    "Hugo Ines Isaac Isabella Ivan Jack Jacob James Jane Jasmine Javier Jennifer Jessica Joao John Jonas Jose "
    "Joseph Julia Kai Karen Kenji Kevin Laura Lea Leo Liam Linda Lucas Lucia Luis Mai Marco Margaret Maria Mark "
    "Martin Mason Matteo Mei Mia Michael Michelle Mohammed Nadia Naomi Nathan Nicole Nina Noah Olivia Omar Oscar "
    "Pablo Patricia Paul Pedro Peter Priya Rachel Rafael Rahul Raj Rebecca Richard Robert Rosa Ryan Sakura "
    "Samuel Sara Sebastian Sofia Sophie Stephen Susanna Taylor Thomas Tim Valentina Victor Wei William Yara "
    "Yvonne Zara Zoe"
).split()

LAST_NAMES = (
    "Abbott Adams Ahmed Alvarez Anderson Bailey Baker Becker Bennett Brown Campbell Carter Castro Chen Clark "
    "Collins Cook Cooper Costa Cruz Davies Davis Diaz Dubois Edwards Evans Fischer Fernandez Flores Foster "
    "Garcia Gomez Gonzalez Green Gupta Hall Harris Hernandez Hill Hoffmann Hughes Ito Jackson James Jensen "
    "Johnson Jones Kelly Khan Kim King Kowalski Kumar Larsen Lee Lewis Lopez Martin Martinez McKay Meyer Miller "
    "Mitchell Moore Morales Morgan Morris Muller Murphy Nakamura Nguyen Novak Okafor Olsen Ortiz Parker Patel "
    "Perez Peterson Phillips Ramirez Reed Reyes Richardson Rivera Roberts Robinson Rodriguez Rossi Russo "
    "Sanchez Santos Schmidt Schneider Scott Silva Singh Smith Stewart Stubberod Suzuki Tanaka Taylor Thomas "
    "Thompson Torres Turner Walker Wang Ward Watson Weber White Williams Wilson Wood Wright Yamamoto Young Zhang"
).split()

COMPANY_FIRST = (
    "Adventure Alpine Apex Arcadia Atlas Aurora Azure Bayside Beacon Blue Bright Cascade Cedar Citadel Coastal "
    "Contoso Crescent Crystal Delta Eagle Echo Emerald Evergreen Fabrikam Falcon First Fourth Frontier Golden "
    "Granite Harbor Horizon Iron Jade Keystone Lakeside Liberty Litware Lumen Maple Meridian Metro Midwest "
    "Northwind Nova Oak Olympic Omega Orion Pacific Peak Phoenix Pinnacle Pioneer Prime Proseware Quantum "
    "Redwood Ridge River Sapphire Sierra Silver Skyline Solar Southridge Spark Sterling Summit Sun Tailspin "
    "Terra Titan Trey Union United Vanguard Vertex Wide Wingtip Woodgrove Zenith"
).split()

COMPANY_SECOND = (
    "Analytics Bakery Bank Bikes Brewing Builders Capital Cargo Chemicals Coffee Communications Construction "
    "Consulting Cycles Data Design Devices Dynamics Electric Energy Engineering Entertainment Farms Finance "
    "Foods Freight Furniture Health Holdings Hospitality Imports Industries Insurance Interactive Labs "
    "Logistics Machinery Manufacturing Marine Media Medical Metals Mining Motors Networks Outdoor Partners "
    "Pharma Plastics Power Printing Properties Publishing Research Resorts Retail Robotics Security Semiconductors "
    "Services Shipping Software Solutions Sports Steel Studios Supplies Systems Technologies Telecom Textiles "
    "Tools Toys Trading Transport Travel Ventures Water Wines Works"
).split()

COMPANY_SUFFIX = ("", "", "", "", "Inc.", "Ltd", "LLC", "GmbH", "SA", "Group", "Corp.", "plc", "AG", "BV", "Co.")

# (city, state or province, country, postal prefix, latitude, longitude, UTC offset minutes)
CITIES = (
    ("Seattle", "WA", "United States", "981", 47.6062, -122.3321, -480),
    ("Redmond", "WA", "United States", "980", 47.6740, -122.1215, -480),
    ("New York", "NY", "United States", "100", 40.7128, -74.0060, -300),
    ("Chicago", "IL", "United States", "606", 41.8781, -87.6298, -360),
    ("Austin", "TX", "United States", "787", 30.2672, -97.7431, -360),
    ("San Francisco", "CA", "United States", "941", 37.7749, -122.4194, -480),
    ("Boston", "MA", "United States", "021", 42.3601, -71.0589, -300),
    ("Denver", "CO", "United States", "802", 39.7392, -104.9903, -420),
    ("Atlanta", "GA", "United States", "303", 33.7490, -84.3880, -300),
    ("Toronto", "ON", "Canada", "M5H", 43.6532, -79.3832, -300),
    ("Vancouver", "BC", "Canada", "V6B", 49.2827, -123.1207, -480),
    ("London", "England", "United Kingdom", "EC1", 51.5074, -0.1278, 0),
    ("Manchester", "England", "United Kingdom", "M1 ", 53.4808, -2.2426, 0),
    ("Dublin", "Leinster", "Ireland", "D02", 53.3498, -6.2603, 0),
    ("Paris", "Ile-de-France", "France", "750", 48.8566, 2.3522, 60),
    ("Lyon", "Auvergne-Rhone-Alpes", "France", "690", 45.7640, 4.8357, 60),
    ("Berlin", "Berlin", "Germany", "101", 52.5200, 13.4050, 60),
    ("Munich", "Bavaria", "Germany", "803", 48.1351, 11.5820, 60),
    ("Amsterdam", "North Holland", "Netherlands", "101", 52.3676, 4.9041, 60),
    ("Madrid", "Madrid", "Spain", "280", 40.4168, -3.7038, 60),
    ("Milan", "Lombardy", "Italy", "201", 45.4642, 9.1900, 60),
    ("Stockholm", "Stockholm", "Sweden", "111", 59.3293, 18.0686, 60),
    ("Zurich", "Zurich", "Switzerland", "800", 47.3769, 8.5417, 60),
    ("Tokyo", "Tokyo", "Japan", "100", 35.6762, 139.6503, 540),
    ("Sydney", "NSW", "Australia", "200", -33.8688, 151.2093, 600),
    ("Singapore", "Singapore", "Singapore", "018", 1.3521, 103.8198, 480),
    ("Mumbai", "Maharashtra", "India", "400", 19.0760, 72.8777, 330),
    ("Sao Paulo", "SP", "Brazil", "010", -23.5505, -46.6333, -180),
    ("Mexico City", "CDMX", "Mexico", "060", 19.4326, -99.1332, -360),
    ("Johannesburg", "Gauteng", "South Africa", "200", -26.2041, 28.0473, 120),
)

STREETS = (
    "Main St",
    "Oak Ave",
    "Pine Rd",
    "Maple Dr",
    "Cedar Ln",
    "Elm St",
    "Lake View Blvd",
    "Hill Rd",
    "Park Ave",
    "Market St",
    "Church Rd",
    "High St",
    "Station Rd",
    "Mill Ln",
    "River Rd",
    "Sunset Blvd",
    "Broadway",
    "King St",
    "Queen St",
    "Victoria Rd",
    "1st Ave",
    "2nd Ave",
    "Harbor Way",
    "Industrial Pkwy",
    "Commerce Dr",
)

JOB_TITLES = (
    "Purchasing Manager",
    "CEO",
    "CFO",
    "CTO",
    "IT Director",
    "Sales Director",
    "Office Manager",
    "Buyer",
    "Operations Manager",
    "Marketing Lead",
    "Project Manager",
    "Account Executive",
    "Engineer",
    "Analyst",
    "Procurement Specialist",
    "Head of Finance",
    "VP Sales",
    "Consultant",
    "Administrator",
    "Owner",
)

SUBJECTS = (
    "Interested in online only store",
    "New store opened this year - follow up",
    "Needs a quote for bikes",
    "Wants product catalog",
    "Likes some of our new products",
    "Expanding business - follow up",
    "Evaluating CRM options",
    "Requested a demo",
    "Renewal discussion",
    "Upgrade to premium support",
    "Trade show contact",
    "Webinar attendee",
    "Referral from partner",
    "Pricing inquiry",
    "Bulk order interest",
)

PROJECT_WORDS = (
    "Migration",
    "Rollout",
    "Upgrade",
    "Integration",
    "Audit",
    "Pilot",
    "Redesign",
    "Expansion",
    "Onboarding",
    "Assessment",
    "Modernization",
    "Consolidation",
    "Launch",
    "Optimization",
    "Training",
)

LOREM = (
    "Long-standing customer with steady growth in the northern region.",
    "Prefers communication by email; quarterly business reviews in place.",
    "Key account for the enterprise segment; renewal due next fiscal year.",
    "Met at the annual trade show. Interested in the premium tier.",
    "Multiple subsidiaries; consolidated billing requested.",
    "Credit review pending after the last audit.",
    "Strategic partner for co-selling in EMEA.",
    "Small business, price sensitive, high engagement with marketing.",
    "Contract negotiated with a 3-year commitment and volume discounts.",
    "Account transferred from the legacy system during the 2021 migration.",
)
