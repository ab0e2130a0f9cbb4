"""A generator for the Kaggle "Credit Card Transactions Fraud Detection" (Sparkov) CSV format.

The real fraudTrain.csv cannot be downloaded here, so this writes files with the same columns,
formatting and statistical shape: a fixed population of 983 cardholders who all transact
throughout, ~2,400 transactions a day (more in the afternoon, on Sundays, Mondays and in
December, fewer in January and February), so N rows cover about N / 2,400 days and even the
first few thousand rows hold hundreds of cards; the 14 Sparkov categories with their real
shares and amount ranges; and Sparkov's fraud pattern (one fraud day per affected card, mostly
at night, inflated amounts in a few categories, ~0.58 % of rows at any row count).

Rows are produced in time order, one block of days at a time: every value is drawn with numpy
and every line is assembled with pyarrow compute kernels, so memory stays flat and the same
seed and row count always give a byte-identical file.
"""

from __future__ import annotations

import calendar
import csv
import io
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from txviz_pipeline.schema import CATEGORIES, SOURCE_COLUMNS

log = logging.getLogger(__name__)

DEFAULT_START = datetime(2019, 1, 1)
CARDS = 983  # fraudTrain.csv's cardholders; each one transacts throughout its 1.5 years
MERCHANTS = 693  # as many as fraudTrain.csv names
# fraudTrain.csv's time line: 1,296,675 rows from 2019-01-01 00:00:18 to 2020-06-21 12:13:37,
# ~2,415 a day. The daily rate is calibrated so that a file of that size, started on that day,
# ends on that day too.
REFERENCE_ROWS = 1_296_675
REFERENCE_START = datetime(2019, 1, 1)
REFERENCE_END = datetime(2020, 6, 21, 12, 13, 37)
# Sparkov gives each customer a daily transaction rate drawn between 1 and 6 (its profiles'
# avg_transactions_per_day), so the busiest cards transact ~6x as often as the quietest.
CARD_RATE_RANGE = (1.0, 6.0)
FRAUD_RATE = 0.00579  # 7,506 of 1,296,675 rows in fraudTrain.csv
UNIX_TIME_LAG_YEARS = 7  # unix_time is the same wall time 7 years earlier, as UTC
BLOCK_ROWS = 65_536

# Rows per category in fraudTrain.csv (legitimate and fraud together), then fraud rows only.
CATEGORY_ROWS: dict[str, int] = {
    "entertainment": 94014,
    "food_dining": 91461,
    "gas_transport": 131659,
    "grocery_net": 45452,
    "grocery_pos": 123638,
    "health_fitness": 85879,
    "home": 123115,
    "kids_pets": 113035,
    "misc_net": 63287,
    "misc_pos": 79655,
    "personal_care": 90758,
    "shopping_net": 97543,
    "shopping_pos": 116672,
    "travel": 40507,
}
FRAUD_CATEGORY_ROWS: dict[str, int] = {
    "entertainment": 233,
    "food_dining": 151,
    "gas_transport": 618,
    "grocery_net": 134,
    "grocery_pos": 1743,
    "health_fitness": 133,
    "home": 198,
    "kids_pets": 239,
    "misc_net": 915,
    "misc_pos": 250,
    "personal_care": 220,
    "shopping_net": 1713,
    "shopping_pos": 843,
    "travel": 116,
}

# Legitimate amounts per category: (kind, a, b, small share, small median) where kind "normal"
# means mean a / sd b, and "lognormal" means median a / sigma b. A "small" share models the
# many sub-$10 purchases in the net/pos/travel categories (their medians are ~$7 in the data).
_LEGIT_AMOUNTS: dict[str, tuple[str, float, float, float, float]] = {
    "entertainment": ("lognormal", 50.0, 0.7, 0.0, 0.0),
    "food_dining": ("lognormal", 38.0, 0.75, 0.0, 0.0),
    "gas_transport": ("normal", 63.0, 15.0, 0.0, 0.0),
    "grocery_net": ("lognormal", 50.0, 0.4, 0.0, 0.0),
    "grocery_pos": ("normal", 85.0, 18.0, 0.0, 0.0),
    "health_fitness": ("lognormal", 44.0, 0.65, 0.0, 0.0),
    "home": ("lognormal", 47.0, 0.65, 0.0, 0.0),
    "kids_pets": ("lognormal", 46.0, 0.65, 0.0, 0.0),
    "misc_net": ("lognormal", 85.0, 0.95, 0.45, 6.0),
    "misc_pos": ("lognormal", 80.0, 0.95, 0.5, 6.0),
    "personal_care": ("lognormal", 32.0, 0.9, 0.0, 0.0),
    "shopping_net": ("lognormal", 95.0, 0.95, 0.5, 6.0),
    "shopping_pos": ("lognormal", 90.0, 0.95, 0.5, 7.0),
    "travel": ("lognormal", 150.0, 1.1, 0.6, 5.0),
}
# Fraud amounts per category: uniform between the two bounds (inflated where Sparkov's
# fraud profiles inflate them; small "card testing" amounts elsewhere).
_FRAUD_AMOUNTS: dict[str, tuple[float, float]] = {
    "entertainment": (300.0, 700.0),
    "food_dining": (60.0, 180.0),
    "gas_transport": (5.0, 20.0),
    "grocery_net": (5.0, 20.0),
    "grocery_pos": (260.0, 360.0),
    "health_fitness": (5.0, 30.0),
    "home": (150.0, 350.0),
    "kids_pets": (5.0, 30.0),
    "misc_net": (600.0, 1000.0),
    "misc_pos": (150.0, 280.0),
    "personal_care": (5.0, 40.0),
    "shopping_net": (750.0, 1250.0),
    "shopping_pos": (650.0, 1100.0),
    "travel": (3.0, 15.0),
}
FRAUD_NIGHT_SHARE = 0.8
FRAUD_NIGHT_HOURS = (22, 23, 0, 1, 2, 3)
FRAUD_WINDOW_MEDIAN = 8.0  # transactions in one card's fraud day: 2..25, mean ~10
FRAUD_WINDOW_RANGE = (2, 25)

# Legitimate spending by hour (afternoons and evenings ~1.55x the morning rate), weekday
# (Monday..Sunday) and month, as in fraudTrain.csv.
_HOUR_WEIGHTS = np.array([1.0] * 12 + [1.55] * 12)
_WEEKDAY_WEIGHTS = np.array([1.32, 0.83, 0.67, 0.76, 0.79, 1.04, 1.30])
_MONTH_WEIGHTS = np.array([0.72, 0.70, 0.95, 0.93, 0.99, 1.2, 1.2, 1.22, 0.96, 0.96, 0.98, 1.6])
# Share of a day's legitimate volume that falls before each hour boundary (0h, 1h, ..., 24h):
# maps a uniform draw to a time of day that follows _HOUR_WEIGHTS, and back.
_HOUR_EDGES = np.arange(25) * 3600.0
_HOUR_SHARE = np.concatenate([[0.0], np.cumsum(_HOUR_WEIGHTS)]) / _HOUR_WEIGHTS.sum()


def _words(text: str) -> list[str]:
    return list(dict.fromkeys(text.split()))


def _pick(rng: np.random.Generator, seq: Sequence[str]) -> str:
    return seq[rng.integers(len(seq))]


_FEMALE_FIRST = _words(
    """Jennifer Mary Patricia Linda Elizabeth Barbara Susan Jessica Sarah Karen Nancy
Lisa Margaret Betty Sandra Ashley Kimberly Donna Emily Michelle Carol Amanda Melissa Deborah
Stephanie Rebecca Laura Sharon Cynthia Kathleen Amy Shirley Angela Helen Anna Brenda Pamela
Nicole Samantha Katherine Emma Ruth Christine Catherine Debra Rachel Carolyn Janet Virginia
Maria Heather Diane Julie Joyce Victoria Kelly Christina Lauren Joan Evelyn Olivia Judith Megan
Cheryl Martha Andrea Frances Hannah Jacqueline Ann Gloria Jean Kathryn Alice Teresa Sara Janice
Doris Madison Julia Grace Judy Abigail Marie Denise Beverly Amber Theresa Marilyn Danielle
Diana Brittany Natalie Sophia Rose Alexis Kayla Tina Crystal Erica Monica Vanessa Stacy"""
)
_MALE_FIRST = _words(
    """James Robert John Michael David William Richard Joseph Thomas Charles Christopher
Daniel Matthew Anthony Mark Donald Steven Paul Andrew Joshua Kenneth Kevin Brian George Timothy
Ronald Edward Jason Jeffrey Ryan Jacob Gary Nicholas Eric Jonathan Stephen Larry Justin Scott
Brandon Benjamin Samuel Gregory Alexander Frank Patrick Raymond Jack Dennis Jerry Tyler Aaron
Jose Adam Nathan Henry Douglas Zachary Peter Kyle Ethan Walter Noah Jeremy Christian Keith
Roger Terry Gerald Harold Sean Austin Carl Arthur Lawrence Dylan Jesse Jordan Bryan Billy Joe
Bruce Gabriel Logan Albert Willie Alan Juan Wayne Elijah Randy Roy Vincent Ralph Eugene Russell
Bobby Mason Philip Louis Travis Craig Shane Dustin Marcus Todd"""
)
_LAST = _words(
    """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez
Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White
Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen
Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips
Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers
Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson
Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders
Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell Coleman Butler
Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson Alexander Hamilton
Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera Gibson Ellis Tran Medina
Aguilar Stevens Murray Ford Castro Marshall Owens Harrison Fernandez McDonald Woods Washington
Kennedy Wells Vargas Henry Chen Freeman Webb Tucker Guzman Burns Crawford Olson Simpson Porter
Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black
Robertson Boyd Rose Stone Salazar Fox Warren Mills Meyer Rice Schmidt Garza Daniels Ferguson
Nichols Stephens Soto Weaver Ryan Gardner Payne Grant Dunn Kelley Spencer Hawkins Arnold Pierce
Vazquez Hansen Peters Santos Hart Bradley Knight Elliott Cunningham Duncan Armstrong Hudson
Carroll Lane Riley Andrews Alvarado Ray Delgado Berry Perkins Hoffman Johnston Matthews Pena
Richards Contreras Willis Carpenter Lawrence Sandoval Guerrero George Chapman Rios Estrada
Ortega Watkins Greene Nunez Wheeler Valdez Harper Burke Larson Santiago Maldonado Morrison
Franklin Carlson Austin Dominguez Carr Lawson Jacobs Obrien Lynch Singh Vega Bishop Montgomery
Oliver Jensen Harvey Williamson Gilbert Dean Sims Espinoza Howell Li Wong Reid Hanson Le
McCoy Garrett Burton Fuller Wang Weber Welch Rojas Lucas Marquez Fields Park Yang Little Banks
Padilla Day Walsh Bowman Schultz Luna Fowler Mejia Davidson Acosta Brewer May Holland Juarez
Newman Pearson Curtis Cortez Douglas Schneider Joseph Barrett Navarro Figueroa Keller Avila
Wade Molina Stanley Hopkins Campos Barnett Bates Chambers Caldwell Beck Lambert Miranda Byrd
Craig Ayala Lowe Frazier Powers Neal Leonard Gregory Carrillo Sutton Fleming Rhodes Shelton
Schwartz Norris Jennings Watts Duran Walters Cohen McDaniel Moran Parks Steele Vaughn Becker
Holt Deleon Barker Terry Hale Leon Hail Benson Haynes Horton Miles Lyons Pham Graves Bush
Thornton Wolfe Warner Cabrera McKinney Mann Zimmerman Dawson Lara Fletcher Page McCarthy Love
Robles Cervantes Solis Erickson Reeves Chang Klein Salinas Fuentes Baldwin Daniel Simon
Velasquez Hardy Higgins Aguirre Lin Cummings Chandler Sharp Barber Bowen Ochoa Dennis Robbins
Liu Ramsey Francis Griffith Paul Blair Oconnor Cardenas Pacheco Cross Calderon Quinn Moss
Swanson Chan Rivas Khan Rodgers Serrano Fitzgerald Rosales Stevenson Christensen Manning Gill
Curry McLaughlin Harmon McGee Gross Doyle Garner Newton Burgess Reese Walton Blake Trujillo
Adkins Brady Goodman Roman Webster Goodwin Fischer Huang Potter Delacruz Montoya Todd Wu Hines
Mullins Castaneda Malone Cannon Tate Mack Sherman Hubbard Hodges Zhang Guerra Wolf Valencia
Saunders Franco Rowe Gallagher Farmer Hammond Hampton Townsend Ingram Wise Gallegos Clarke
Barton Schroeder Maxwell Waters Logan Camacho Strickland Norman Person Colon Parsons Frank
Harrington Glover Osborne Buchanan Casey Floyd Patton Ibarra Ball Tyler Suarez Bowers Orozco
Salas Cobb Gibbs Andrade Bauer Conner Moody Escobar McGuire Lloyd Mueller Hartman French
Kramer McBride Pope Lindsey Velazquez Norton McCormick Sparks Flynn Yates Hogan Marsh Macias
Villanueva Zamora Pratt Stokes Owen Ballard Lang Brock Villarreal Charles Drake Barrera Cain
Patrick Pineda Burnett Mercado Santana Shepherd Bautista Ali Shaffer Lamb Trevino McKenzie Hess
Beil Olsen Cochran Morton Nash Wilkins Petersen Briggs Shah Roth Nicholson Holloway Lozano
Rangel Flowers Hoover Short Arias Mora Valenzuela Bryan Meyers Weiss Underwood Bass Greer
Summers Houston Carson Morrow Clayton Whitaker Decker Yoder Collier Zuniga Carey Wilcox Melendez
Poole Roberson Larsen Conley Davenport Copeland Massey Lam Huff Rocha Cameron Jefferson Hood
Monroe Anthony Pittman Huynh Randall Singleton Kirk Combs Mathis Christian Skinner Bradford
Richard Galvan Wall Boone Kirby Wilkinson Bridges Bruce Atkinson Velez Meza Roy Vincent York
Hodge Villa Abbott Allison Tapia Gates Chase Sosa Sweeney Farrell Wyatt Dalton Horn Barron
Phelps Yu Dickerson Heath Foley Atkins Mathews Bonilla Acevedo Benitez Zavala Hensley Glenn
Cisneros Harrell Shields Rubio Huffman Choi Boyer Garrison Arroyo Bond Kane Hancock Callahan
Dillon Cline Wiggins Grimes Arellano Melton Oneill Savage Ho Beltran Pitts Parrish Ponce Rich
Booth Koch Golden Ware Brennan McDowell Marks Cantu Humphrey Baxter Sawyer Clay Tanner Hutchinson
Kaur Berg Wiley Gilmore Russo Villegas Hobbs Keith Wilkerson Ahmed Beard McClain Montes Mata
Rosario Vang Walter Henson Oneal Mosley McClure Beasley Stephenson Snow Huerta Preston Vance
Barry Johns Eaton Blackwell Dyer Prince Macdonald Solomon Guevara Stafford English Hurst
Woodard Cortes Shannon Kemp Nolan McCullough Merritt Murillo Moon Salgado Strong Kline Cordova
Barajas Roach Rosas Winters Jacobson Lester Knox Bullock Kerr Leach Meadows Orr Davila Whitehead
Pruitt Kent Conway McKee Barr David Dejesus Marin Berger McIntyre Blankenship Gaines Palacios
Cuevas Bartlett Durham Dorsey McCall Odonnell Stein Browning Stout Lowery Sloan McLean Hendricks
Calhoun Sexton Chung Gentry Hull Duarte Ellison Nielsen Gillespie Buck Middleton Sellers
Leblanc Esparza Hardin Bradshaw McIntosh Howe Livingston Frost Glass Morse Knapp Herman Stark
Bravo Noble Spears Weeks Corona Frederick Buckley McFarland Hebert Enriquez Hickman Quintero
Randolph Schaefer Walls Trejo House Reilly Pennington Michael Conrad Giles Benjamin Crosby
Fitzpatrick Donovan Mays Mahoney Valentine Raymond Medrano Hahn McMillan Small Bentley Felix
Peck Lucero Boyle Hanna Pace Rush Hurley Harding McConnell Bernal Nava Ayers Everett Ventura
Avery Pugh Mayer Bender Shepard McMahon Landry Case Sampson Moses Magana Blackburn Dunlap Gould
Duffy Vaughan Herring McKay Espinosa Rivers Farley Bernard Ashley Friedman Potts Truong
Costa Correa Blevins Nixon Clements Fry Delarosa Best Benton Lugo Portillo Dougherty Crane
Haley Phan Villalobos Blanchard Horne Finley Quintana Lynn Esquivel Bean Dodson Mullen Xiong
Hayden Cano Levy Huber Richmond Moyer Lim Frye Sheppard McCarty Avalos Booker Waller Parra
Woodward Jaramillo Krueger Rasmussen Brandt Peralta Donaldson Stuart Faulkner Maynard Galindo
Coffey Estes Sanford Burch Maddox Vo Oconnell Vu Andersen Spence McPherson Church Schmitt
Stanton Leal Cherry Compton Dudley Sierra Pollard Alfaro Hester Proctor Lu Hinton Novak Good
Madden McCann Terrell Jarvis Dickson Reyna Cantrell Mayo Branch Hendrix Rollins Rowland Whitney
Duke Odom Daugherty Travis Tang Archer"""
)
# Company surnames in the style of the Faker provider Sparkov uses for merchant names.
_COMPANY = _words(
    """Rippin Kub Mann Heller Gutmann Zieme Lind Buckridge Kutch Hermiston Farrell Keeling
Crist Stroman Hudson Erdman Rowe Vandervort Corwin Collins Herzog Schoen Kuphal Nitzsche Kirlin
Sporer Keebler Haley Johnston Casper Predovic Bauch Raynor Kunze Kessler Wolff Kihn Abernathy
Douglas Torphy Goyette Balistreri Nader Bahringer Corkery Schultz Simonis Little Lebsack
Mosciski Ziemann Kuhic Harris Moore Dibbert Koepp Bernier Deckow Conner Lemke Gleichner
Kozey Boehm Bogisich Weimann Nienow Hagenes Wisozk Rolfson Quitzon Schmeler Wuckert Hegmann
Lueilwitz Murazik Altenwerth Dickinson Christiansen Ratke Welch Kassulke Muller Kerluke Ondricka
Reichert Hansen Auer Medhurst Koelpin Reilly Runolfsson Hahn Yost Bednar Windler Lang Hyatt
Stamm Kris Stokes Barrows Hammes Gerhold Mraz Bartoletti Schamberger Jacobs Cartwright Gorczany
Dooley Ebert Koch Feest Huel Jast Labadie Lowe Brakus Okuneva Macejkovic Mertz Paucek Wilderman
Pollich Parisian Veum Tillman Reinger Swaniawski Cremin Baumbach Tremblay Olson Greenholt
Hilpert Rempel Tromp Fadel Streich Schumm Terry Jerde Cummerata Nolan Tromp Kiehn Sawayn Hoeger
Emmerich Fahey Thiel Hickle Bosco Marvin Mayert Ortiz Langworth Lesch Zulauf Casper Fritsch
Schaden Hamill Pouros Green Champlin Hirthe Gottlieb Volkman Pagac Trantow Konopelski Prosacco
Bruen Kilback Homenick Breitenberg Stanton Jaskolski Wehner Kovacek Schiller Weissnat Effertz
Upton Zboncak Skiles Beier Satterfield Friesen Crona Cassin Becker Ankunding Adams Romaguera
Kling Stehr Howell Price Hintz Bartell Denesik Fisher Hackett Ward Bradtke Smitham Renner
Howe Padberg Gulgowski Wintheiser Kuvalis Senger Jewess Blick Shanahan Wiegand Schneider
Heidenreich Steuber Ullrich Waters Kemmer Mohr Purdy Metz Block Daugherty Schimmel Quigley
Langosh Osinski Boyer Turcotte Witting Spinka Bergstrom Torp Grady Boyle Klocko Carroll Morar
Ernser Bechtelar Conroy Murray Schroeder Pfannerstill Greenfelder Dach Leannon Rau Rutherford
Hane Marks Rohan Jenkins Lockman Vandervort Bode Considine Kertzmann Kautzer Abshire Barton
Cormier Larkin Durgan Berge Fay Nikolaus Romaguera Eichmann Borer Cronin Pacocha Hessel
Dicki Glover Wyman Ledner Tromp Wolf Herman Heathcote Sipes Schowalter Roob Friesen Gibson
Dare Walter Kulas Boyle Armstrong Parker Beahan Shields Rath Stiedemann Hills Kirlin Goldner
Zemlak Mills Hauck Bailey Funk Leffler Wunsch Moen Kshlerin Nicolas Lakin Towne Hodkiewicz
Legros Koss Spencer Mante Donnelly Frami Hudson Schinner Zboncak Watsica Douglas Pfeffer
Roberts Strosin West Feil Reynolds Torphy Dietrich Deckow Tromp Huels Lubowitz Cole Wiza
Corkery Sanford Aufderhar Collier Ferry Stracke Johns Kuhn Reichel Monahan Dickens Ritchie
Brekke Graham Wolff Pacocha Grant Weber Block Mitchell Nader Sauer Gislason Feeney Daniel
Predovic Smith Jacobson Sporer Abbott Hamill Kuhlman Effertz Jakubowski Vandervort Kemmer
Bins Emard Buckridge Turner Harber Yundt Hettinger Swift Haag Rice Reinger Baumbach Streich
Rogahn Nitzsche Oberbrunner Kreiger Koss Bayer Christiansen Dibbert Ward Cruickshank Wilkinson
Volkman Champlin Gerlach Beatty Lindgren Mayer Gaylord McCullough Lynch Marquardt Schulist
Lehner Wilkinson Ryan Kuphal Lemke Ferry"""
)
_STREET_SUFFIX = _words(
    """Cove Mall Street Avenue Road Lane Drive Court Place Way Trail Ridge Hills Ports
Squares Ville Crossing Junction Plains Via Stravenue Shoals Manors Lakes Turnpike Fork Pines
Prairie Views Center Circle Expressway Extension Islands Parkway Pass Points Gardens Harbor
Meadows Mountain Orchard Park Radial Spur Summit Track Union Valley Village Walks Wells Haven
Knolls Loop Pike Rapids Spring Square Throughway Tunnel Unions"""
)
_STREET_NAMES = _FEMALE_FIRST + _MALE_FIRST + _LAST
_JOBS = (
    "Psychologist, counselling",
    "Special educational needs teacher",
    "Nature conservation officer",
    "Patent attorney",
    "Dance movement psychotherapist",
    "Transport planner",
    "Arboriculturist",
    "Designer, exhibition/display",
    "Chartered loss adjuster",
    "Set designer",
    "Financial adviser",
    "Pharmacist, hospital",
    "Film/video editor",
    "Exhibition designer",
    "Surveyor, land/geomatics",
    "Engineer, biomedical",
    "Naval architect",
    "Materials engineer",
    "Systems developer",
    "Theatre manager",
    "Designer, ceramics/pottery",
    "Quantity surveyor",
    "Trade mark attorney",
    "Radio producer",
    "Environmental consultant",
    "Science writer",
    "Prison officer",
    "Chief Executive Officer",
    "Health visitor",
    "Water engineer",
    "Sales professional, IT",
    "Librarian, public",
    "Product designer",
    "Immunologist",
    "IT trainer",
    "Scientist, audiological",
    "Podiatrist",
    "Geoscientist",
    "Copywriter, advertising",
    "Therapist, occupational",
    "Contractor",
    "Chief Strategy Officer",
    "Programmer, multimedia",
    "Teacher, primary school",
    "Surveyor, minerals",
    "Tourism officer",
    "Barrister",
    "Insurance underwriter",
    "Research scientist (physical sciences)",
    "Sub",
    "Police officer",
    "Paramedic",
    "Engineer, production",
    "Accountant, chartered public finance",
    "Editor, magazine features",
    "Optician, dispensing",
    "Clinical research associate",
    "Fisheries officer",
    "Electrical engineer",
    "Teacher, English as a foreign language",
    "Medical sales representative",
    "Hydrographic surveyor",
    "Mining engineer",
    "Town planner",
    "Public relations officer",
    "Event organiser",
    "Scientist, research (maths)",
    "Animal nutritionist",
    "Comptroller",
    "Armed forces technical officer",
    "Land/geomatics surveyor",
    "Sports development officer",
    "Early years teacher",
    "Administrator, education",
    "Civil Service fast streamer",
    "Building surveyor",
    "Museum/gallery conservator",
    "Counsellor",
    "Media planner",
    "Audiological scientist",
    "Learning disability nurse",
    "Hospital doctor",
    "Marketing executive",
    "Estate manager/land agent",
    "Physiotherapist",
    "Pilot, airline",
    "Retail buyer",
    "Software engineer",
    "Veterinary surgeon",
    "Web designer",
    "Lexicographer",
    "Structural engineer",
    "Agricultural consultant",
    "Futures trader",
    "Careers information officer",
    "Conservator, furniture",
    "Cytogeneticist",
    "Dealer",
    "Oceanographer",
    "Acupuncturist",
    "Trading standards officer",
    "Energy engineer",
    "Claims inspector/assessor",
    "Community pharmacist",
    "Secondary school teacher",
    "Operational researcher",
    "Biomedical scientist",
    "Engineer, civil (consulting)",
    "Music therapist",
    "Video editor",
)
# Cardholder home towns: city, state, zip (an integer, so New England loses its leading 0),
# lat, long (4 decimals), city population.
_CITIES = """Moravian Falls|NC|28654|36.0788|-81.1781|3495
Orient|WA|99160|48.8878|-118.2105|149
Malad City|ID|83252|42.1808|-112.262|4154
Boulder|MT|59632|46.2306|-112.1138|1939
Doe Hill|VA|24433|38.4207|-79.4629|99
Dublin|PA|18917|40.375|-75.2045|2158
Holcomb|KS|67851|37.9931|-100.9893|2691
Edinburg|VA|22824|38.8432|-78.6003|6018
Houston|TX|77002|29.756|-95.365|2906700
Brooklyn|NY|11201|40.6943|-73.9903|2504700
Chicago|IL|60601|41.8858|-87.6181|2680484
Philadelphia|PA|19103|39.9525|-75.174|1526006
Phoenix|AZ|85004|33.4516|-112.0685|1563025
San Antonio|TX|78205|29.4246|-98.4951|1469845
Dallas|TX|75201|32.7887|-96.799|1263321
Los Angeles|CA|90012|34.0614|-118.2385|2383912
San Diego|CA|92101|32.7194|-117.1628|1241364
Jacksonville|FL|32202|30.3299|-81.6587|842583
Columbus|OH|43215|39.967|-83.0049|787033
Indianapolis|IN|46204|39.7717|-86.1573|820445
Charlotte|NC|28202|35.228|-80.8437|731424
Seattle|WA|98101|47.611|-122.3357|608660
Denver|CO|80202|39.7523|-104.9965|600158
El Paso|TX|79901|31.7587|-106.4869|649121
Detroit|MI|48226|42.3319|-83.0478|713777
Boston|MA|2108|42.3576|-71.0654|617594
Memphis|TN|38103|35.1495|-90.049|646889
Nashville|TN|37203|36.152|-86.7896|601222
Portland|OR|97204|45.5183|-122.6777|583776
Oklahoma City|OK|73102|35.4712|-97.5196|579999
Las Vegas|NV|89101|36.1725|-115.1245|583756
Louisville|KY|40202|38.253|-85.7528|597337
Baltimore|MD|21202|39.2972|-76.6069|620961
Milwaukee|WI|53202|43.0464|-87.8997|594833
Albuquerque|NM|87102|35.0819|-106.648|545852
Tucson|AZ|85701|32.2197|-110.972|520116
Fresno|CA|93721|36.7352|-119.7843|494665
Sacramento|CA|95814|38.5806|-121.494|466488
Kansas City|MO|64106|39.1047|-94.5683|459787
Atlanta|GA|30303|33.7524|-84.3896|420003
Omaha|NE|68102|41.2592|-95.9342|408958
Raleigh|NC|27601|35.7732|-78.6382|403892
Miami|FL|33130|25.7671|-80.2047|399457
Minneapolis|MN|55401|44.9836|-93.2704|382578
Tulsa|OK|74103|36.1543|-95.9956|391906
Cleveland|OH|44113|41.4818|-81.6937|396815
Wichita|KS|67202|37.6872|-97.3336|382368
New Orleans|LA|70112|29.9584|-90.0775|343829
Tampa|FL|33602|27.9511|-82.4571|335709
Honolulu|HI|96813|21.3095|-157.8575|337256
Pittsburgh|PA|15222|40.447|-79.9937|305704
Cincinnati|OH|45202|39.1073|-84.5022|296943
St. Louis|MO|63101|38.6322|-90.1929|319294
Anchorage|AK|99501|61.2209|-149.8677|291826
Spokane|WA|99201|47.6627|-117.4343|208916
Boise|ID|83702|43.6322|-116.2052|205671
Des Moines|IA|50309|41.5857|-93.6219|203433
Salt Lake City|UT|84101|40.7563|-111.8996|186440
Birmingham|AL|35203|33.5189|-86.8089|212237
Little Rock|AR|72201|34.7481|-92.276|193524
Jackson|MS|39201|32.293|-90.1863|173514
Madison|WI|53703|43.0783|-89.3779|233209
Lincoln|NE|68508|40.8148|-96.7063|258379
Providence|RI|2903|41.8192|-71.41|178042
Hartford|CT|6103|41.7672|-72.6725|124775
Burlington|VT|5401|44.484|-73.2212|42417
Manchester|NH|3101|42.9925|-71.4633|109565
Portland|ME|4101|43.6611|-70.2553|66194
Charleston|WV|25301|38.3498|-81.6326|51400
Columbia|SC|29201|33.9882|-81.0364|129272
Savannah|GA|31401|32.0756|-81.0935|136286
Fargo|ND|58102|46.921|-96.8291|105549
Sioux Falls|SD|57104|43.5514|-96.7373|153888
Billings|MT|59101|45.7758|-108.5007|104170
Cheyenne|WY|82001|41.1432|-104.7962|59466
Santa Fe|NM|87501|35.7082|-105.9762|67947
Reno|NV|89501|39.5263|-119.8124|225221
Eugene|OR|97401|44.0639|-123.0853|156185
Bakersfield|CA|93301|35.3835|-119.0201|347483
Lubbock|TX|79401|33.5862|-101.8473|239538
Amarillo|TX|79101|35.2038|-101.8418|199371
Shreveport|LA|71101|32.4977|-93.7476|197204
Knoxville|TN|37902|35.9624|-83.9207|179940
Lexington|KY|40507|38.0462|-84.497|295803
Dayton|OH|45402|39.7565|-84.1942|140407
Grand Rapids|MI|49503|42.9659|-85.6749|188040
Fort Wayne|IN|46802|41.0709|-85.1464|253691
Springfield|IL|62701|39.8005|-89.6499|116250
Cedar Rapids|IA|52401|41.9754|-91.668|128429
Duluth|MN|55802|46.7839|-92.1035|86265
Green Bay|WI|54301|44.4955|-88.0216|104057
Erie|PA|16501|42.1253|-80.0866|101786
Syracuse|NY|13202|43.0411|-76.1492|148620
Albany|NY|12207|42.6525|-73.752|97856
Buffalo|NY|14202|42.8835|-78.8776|258071
Norfolk|VA|23510|36.85|-76.2915|245115
Richmond|VA|23219|37.5396|-77.4376|204214
Asheville|NC|28801|35.5951|-82.5569|83393
Tallahassee|FL|32301|30.4262|-84.2589|181376
Mobile|AL|36602|30.6915|-88.0433|195111
Red Cloud|NE|68970|40.0889|-98.519|1081
Meadville|PA|16335|41.6414|-80.1514|13388
Bar Harbor|ME|4609|44.3876|-68.2039|5235
Ely|MN|55731|47.9032|-91.8671|3390
Moab|UT|84532|38.5733|-109.5498|5366
Marfa|TX|79843|30.3094|-104.0206|1747
Taos|NM|87571|36.4072|-105.5731|5716
Sitka|AK|99835|57.0531|-135.33|8493
Hilo|HI|96720|19.7071|-155.0816|45703
Key West|FL|33040|24.5551|-81.78|24649
Nantucket|MA|2554|41.2835|-70.0995|10172
Bozeman|MT|59715|45.677|-111.0429|37280
Jackson|WY|83001|43.4799|-110.7624|10532
Astoria|OR|97103|46.1879|-123.8313|9477
Eureka|CA|95501|40.8021|-124.1637|27191
Durango|CO|81301|37.2753|-107.8801|18503
Oxford|MS|38655|34.3665|-89.5192|22838
Athens|GA|30601|33.9519|-83.3576|115452
Ithaca|NY|14850|42.444|-76.5019|30999
Galena|IL|61036|42.4167|-90.429|3429
Lewisburg|WV|24901|37.8018|-80.4456|3830
Beaufort|SC|29902|32.4316|-80.6698|13436
Natchez|MS|39120|31.5604|-91.4032|15792
Paducah|KY|42001|37.0834|-88.6001|25024
Dodge City|KS|67801|37.7528|-100.0171|27340
Scottsbluff|NE|69361|41.8666|-103.6672|14436
Dickinson|ND|58601|46.8792|-102.7896|22739
Pierre|SD|57501|44.3683|-100.351|13646
Laramie|WY|82070|41.3114|-105.5911|32473
Elko|NV|89801|40.8324|-115.7631|20279
Prescott|AZ|86301|34.54|-112.4685|42731
Kingman|AZ|86401|35.1894|-114.053|30069
Roswell|NM|88201|33.3943|-104.523|48422
Del Rio|TX|78840|29.3627|-100.8968|35591
Hot Springs|AR|71901|34.5037|-93.0552|37930
Kirksville|MO|63501|40.1948|-92.5833|17530
Ottumwa|IA|52501|41.02|-92.4113|24454
Marquette|MI|49855|46.5436|-87.3954|20629
Wausau|WI|54403|44.9591|-89.6301|38872
Bemidji|MN|56601|47.4736|-94.8803|15278
Zanesville|OH|43701|39.9403|-82.0132|24765
Bloomington|IN|47404|39.1653|-86.5264|85755
Cookeville|TN|38501|36.1628|-85.5016|34842
Dothan|AL|36301|31.2232|-85.3905|68941
Valdosta|GA|31601|30.8327|-83.2785|56457
Ocala|FL|34471|29.1872|-82.1401|63591
Rocky Mount|NC|27804|35.9382|-77.7905|54341
Danville|VA|24541|36.586|-79.395|40044
Cumberland|MD|21502|39.6529|-78.7625|19076
Dover|DE|19901|39.1582|-75.5244|38079
Vineland|NJ|8360|39.4864|-75.026|59439
Bangor|ME|4401|44.8012|-68.7778|31753
Rutland|VT|5701|43.6106|-72.9726|15098
Keene|NH|3431|42.9337|-72.2781|22786
Pittsfield|MA|1201|42.4501|-73.2454|42142
Torrington|CT|6790|41.8007|-73.1212|34737
Westerly|RI|2891|41.3776|-71.8273|22787
Altoona|PA|16601|40.5187|-78.3947|43963
Watertown|NY|13601|43.9748|-75.9108|24685
Yakima|WA|98901|46.6021|-120.5059|93986
Walla Walla|WA|99362|46.0646|-118.343|32237
Pocatello|ID|83201|42.8713|-112.4455|56320
Twin Falls|ID|83301|42.563|-114.4609|49764
Logan|UT|84321|41.737|-111.8338|51784
St. George|UT|84770|37.0965|-113.5684|89587
Grand Junction|CO|81501|39.0639|-108.5506|63597
Pueblo|CO|81003|38.2544|-104.6091|111876
Missoula|MT|59801|46.8721|-113.994|75516
Great Falls|MT|59401|47.5002|-111.3008|58434
Minot|ND|58701|48.233|-101.2923|47382
Hays|KS|67601|38.8792|-99.3268|21001
Enid|OK|73701|36.3956|-97.8784|50286
Lawton|OK|73501|34.6036|-98.3959|93025
Tyler|TX|75701|32.3513|-95.3011|105995
Victoria|TX|77901|28.8053|-97.0036|67015
Lafayette|LA|70501|30.2241|-92.0198|126185
Hattiesburg|MS|39401|31.3271|-89.2903|46926
Florence|AL|35630|34.7998|-87.6773|40184
Johnson City|TN|37601|36.3134|-82.3535|66677
Bowling Green|KY|42101|36.9685|-86.4808|70543
Muncie|IN|47305|40.1934|-85.3864|68625
Lima|OH|45801|40.7426|-84.1052|36566
Kalamazoo|MI|49007|42.2917|-85.5872|76200
Saginaw|MI|48607|43.4195|-83.9508|48264
Eau Claire|WI|54701|44.8113|-91.4985|68802
Rochester|MN|55902|44.0121|-92.4802|118935
Mankato|MN|56001|44.1636|-93.9994|42861
Dubuque|IA|52001|42.5006|-90.6646|57941
Joplin|MO|64801|37.0842|-94.5133|50925
Jonesboro|AR|72401|35.8423|-90.7043|78576
Gainesville|FL|32601|29.6516|-82.3248|141085
Macon|GA|31201|32.8407|-83.6324|153095
Spartanburg|SC|29301|34.9496|-81.9321|37876
Wilmington|NC|28401|34.2257|-77.9447|123744
Lynchburg|VA|24504|37.4138|-79.1422|82168
Morgantown|WV|26505|39.6295|-79.9559|30955
Hagerstown|MD|21740|39.6418|-77.72|40452
Lancaster|PA|17602|40.0379|-76.3055|59322
Scranton|PA|18503|41.409|-75.6624|76653
Binghamton|NY|13901|42.0987|-75.918|44399
Utica|NY|13501|43.1009|-75.2327|60100
New Haven|CT|6510|41.3083|-72.9279|130250
Worcester|MA|1608|42.2626|-71.8023|185428
Lewiston|ME|4240|44.1004|-70.2148|36221
Concord|NH|3301|43.2081|-71.5376|43976
Montpelier|VT|5602|44.2601|-72.5754|7855
Trenton|NJ|8608|40.2206|-74.7597|83203
Wilmington|DE|19801|39.7391|-75.5398|70166
Fairbanks|AK|99701|64.8378|-147.7164|31516
Kailua|HI|96734|21.4022|-157.7394|38635
Redding|CA|96001|40.5865|-122.3917|91772
Chico|CA|95928|39.7285|-121.8375|93293
Salinas|CA|93901|36.6777|-121.6555|156259
Medford|OR|97501|42.3265|-122.8756|81636
Bend|OR|97701|44.0582|-121.3153|87167
Flagstaff|AZ|86001|35.1983|-111.6513|71975
Yuma|AZ|85364|32.6927|-114.6277|95548
Las Cruces|NM|88001|32.3199|-106.7637|101643
Casper|WY|82601|42.8666|-106.3131|58500
Bismarck|ND|58501|46.8083|-100.7837|73112
Aberdeen|SD|57401|45.4647|-98.4865|28324
Kearney|NE|68847|40.6994|-99.0832|33867
Salina|KS|67401|38.8403|-97.6114|46994
Stillwater|OK|74074|36.1156|-97.0584|50299
Waco|TX|76701|31.5493|-97.1467|138486
Laredo|TX|78040|27.5306|-99.4803|261639
Brownsville|TX|78520|25.9017|-97.4975|183392"""

# Card number shapes: (length, prefixes, share). Most are 16 digits; the real file also holds
# 11- to 19-digit numbers, which is why cc_num must never pass through a float.
_CARD_SHAPES: tuple[tuple[int, tuple[str, ...], float], ...] = (
    (16, ("4", "51", "52", "53", "54", "55", "2221", "2720", "6011", "65", "35"), 0.62),
    (15, ("34", "37", "2131", "1800"), 0.08),
    (19, ("4", "6011", "35", "6"), 0.12),
    (14, ("30", "36", "38"), 0.06),
    (13, ("4",), 0.05),
    (12, ("50", "6"), 0.04),
    (11, ("6",), 0.03),
)


@dataclass(frozen=True)
class GenerationSummary:
    rows: int
    fraud_rows: int
    cards: int  # distinct cards in the file (of the CARDS cardholders)
    merchants: int  # distinct merchants in the file (of the MERCHANTS merchants)
    first_time: str | None  # trans_date_trans_time of the first and last rows
    last_time: str | None
    path: Path


@dataclass(frozen=True)
class _Timeline:
    """Expected legitimate volume per day; the span ends part-way through its last day."""

    expected: np.ndarray  # expected rows per day, the last day counted only up to the end
    day_share: np.ndarray  # per day, the share of its hour-weighted volume inside the span

    @property
    def days(self) -> int:
        return len(self.expected)

    def limit_seconds(self, day: np.ndarray) -> np.ndarray:
        """Per day, the second of day that every transaction on it must stay below."""
        limit = np.ceil(_seconds_into_day(self.day_share[day])).astype(np.int64)
        return np.clip(limit, 1, 86400)


@dataclass(frozen=True)
class _Cards:
    cc_num: list[str]
    # "first,last,gender,street,city,state,zip,lat,long,city_pop,job,dob" as CSV text
    profile: list[str]
    lat_e6: np.ndarray  # home latitude in millionths of a degree (exact integers)
    long_e6: np.ndarray
    weight_cdf: np.ndarray  # which card makes a purchase
    category_cdf: np.ndarray  # per card: which category (cards x categories)


@dataclass(frozen=True)
class _Merchants:
    # "merchant,category" as CSV text, grouped by category
    field: list[str]
    first_of_category: np.ndarray
    count_of_category: np.ndarray


@dataclass(frozen=True)
class _Fraud:
    t: np.ndarray  # seconds since the start day's midnight, sorted
    card: np.ndarray
    category: np.ndarray
    cents: np.ndarray


def generate_csv(
    path: str | os.PathLike[str],
    rows: int,
    seed: int = 42,
    start: datetime = DEFAULT_START,
) -> GenerationSummary:
    """Write ``rows`` Sparkov-format transactions to ``path`` (deterministic for a seed)."""
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    path = Path(path)
    rng = np.random.default_rng(seed)
    first_day = start.date()
    timeline = _timeline(first_day, rows)
    cards = _make_cards(rng, CARDS, first_day)
    merchants = _make_merchants(rng)
    fraud = _make_fraud(rng, rows, CARDS, timeline)
    legit = rows - len(fraud.t)
    legit_per_day = (
        rng.multinomial(legit, timeline.expected / timeline.expected.sum())
        if legit
        else np.zeros(timeline.days, dtype=np.int64)
    )
    seen = _Seen(np.zeros(CARDS, dtype=bool), np.zeros(len(merchants.field), dtype=bool))

    tmp = path.with_name(f".{path.name}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "wb") as out:
        out.write((",".join(SOURCE_COLUMNS) + "\n").encode())
        blocks = _blocks(rng, legit_per_day, timeline, first_day, cards, merchants, fraud, seen)
        for block in blocks:
            out.write(block)
    os.replace(tmp, path)
    summary = GenerationSummary(
        rows=rows,
        fraud_rows=len(fraud.t),
        cards=int(seen.cards.sum()),
        merchants=int(seen.merchants.sum()),
        first_time=seen.first_time,
        last_time=seen.last_time,
        path=path,
    )
    log.info("generated %s", summary)
    return summary


def _csv_text(fields: list[object]) -> str:
    """Fields as one CSV line fragment, quoted exactly as the csv module (and pandas) quote."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(fields)
    return buf.getvalue()


def _luhn_complete(body: str) -> str:
    """Append the Luhn check digit, as real card numbers carry."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return body + str((10 - total % 10) % 10)


def _make_cards(rng: np.random.Generator, n: int, first_day: date) -> _Cards:
    cities = [line.split("|") for line in _CITIES.splitlines()]
    shares = np.array([s for _, _, s in _CARD_SHAPES])
    legit_share = _legit_category_shares()
    cc_nums: list[str] = []
    profiles: list[str] = []
    lat_e6 = np.empty(n, dtype=np.int64)
    long_e6 = np.empty(n, dtype=np.int64)
    prefs = np.empty((n, len(CATEGORIES)))
    seen: set[str] = set()
    for i in range(n):
        female = rng.random() < 0.55
        first = _pick(rng, _FEMALE_FIRST if female else _MALE_FIRST)
        last = _pick(rng, _LAST)
        street = (
            f"{rng.integers(1, 99999)} {_pick(rng, _STREET_NAMES)} {_pick(rng, _STREET_SUFFIX)}"
        )
        if rng.random() < 0.3:
            street += f" {'Apt.' if rng.random() < 0.5 else 'Suite'} {rng.integers(1, 1000):03d}"
        city, state, zip_, lat, long, pop = cities[rng.integers(len(cities))]
        age_days = int(np.clip(rng.normal(46, 17), 18, 95) * 365.25)
        dob = first_day - timedelta(days=age_days)
        while True:
            length, prefixes, _ = _CARD_SHAPES[rng.choice(len(_CARD_SHAPES), p=shares)]
            prefix = _pick(rng, prefixes)
            body = prefix + "".join(map(str, rng.integers(0, 10, length - len(prefix) - 1)))
            cc = _luhn_complete(body)
            if cc not in seen:
                break
        seen.add(cc)
        cc_nums.append(cc)
        profiles.append(
            _csv_text(
                [
                    first,
                    last,
                    "F" if female else "M",
                    street,
                    city,
                    state,
                    int(zip_),
                    repr(float(lat)),
                    repr(float(long)),
                    int(pop),
                    _pick(rng, _JOBS),
                    dob.strftime("%Y-%m-%d"),
                ]
            )
        )
        lat_e6[i] = round(float(lat) * 1e6)
        long_e6[i] = round(float(long) * 1e6)
        prefs[i] = legit_share * rng.lognormal(0.0, 0.35, len(CATEGORIES))
    weights = rng.uniform(*CARD_RATE_RANGE, n)
    return _Cards(
        cc_num=cc_nums,
        profile=profiles,
        lat_e6=lat_e6,
        long_e6=long_e6,
        weight_cdf=np.cumsum(weights) / weights.sum(),
        category_cdf=np.cumsum(prefs, axis=1) / prefs.sum(axis=1, keepdims=True),
    )


def _legit_category_shares() -> np.ndarray:
    counts = np.array([CATEGORY_ROWS[c] - FRAUD_CATEGORY_ROWS[c] for c in CATEGORIES], float)
    return counts / counts.sum()


def _company_name(rng: np.random.Generator) -> str:
    a, b, c = (_COMPANY[i] for i in rng.choice(len(_COMPANY), 3, replace=False))
    style = rng.random()
    if style < 0.3:
        return f"fraud_{a}, {b} and {c}"
    if style < 0.55:
        return f"fraud_{a}-{b}"
    suffix = _pick(rng, ("and Sons", "LLC", "Inc", "Ltd", "Group", "PLC"))
    return f"fraud_{a} {suffix}"


def _make_merchants(rng: np.random.Generator) -> _Merchants:
    # Every category gets merchants in proportion to its share, at least 20.
    shares = np.array([CATEGORY_ROWS[c] for c in CATEGORIES], float)
    counts = np.maximum(20, np.floor(shares / shares.sum() * MERCHANTS)).astype(np.int64)
    counts[np.argmax(counts)] += MERCHANTS - counts.sum()
    names: set[str] = set()
    fields: list[str] = []
    for category, count in zip(CATEGORIES, counts, strict=True):
        for _ in range(count):
            name = _company_name(rng)
            while name in names:
                name = _company_name(rng)
            names.add(name)
            fields.append(_csv_text([name, category]))
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return _Merchants(field=fields, first_of_category=first, count_of_category=counts)


def _make_fraud(rng: np.random.Generator, rows: int, n_cards: int, timeline: _Timeline) -> _Fraud:
    """One fraud day per affected card, with 2..25 transactions, until ~0.58 % of rows."""
    target = round(rows * FRAUD_RATE)
    lo, hi = FRAUD_WINDOW_RANGE
    sizes: list[int] = []
    while target >= lo and sum(sizes) < target:
        sizes.append(int(np.clip(round(rng.lognormal(np.log(FRAUD_WINDOW_MEDIAN), 0.6)), lo, hi)))
    if sizes:
        # Drawing stopped at the first window that reached the target: shrink it to fit.
        remainder = target - sum(sizes[:-1])
        if remainder >= lo:
            sizes[-1] = remainder
        else:  # one transaction left over: it joins a window that has room
            sizes.pop()
            roomy = next((i for i, k in enumerate(sizes) if k < hi), None)
            if roomy is None:
                sizes[-1] -= 1
                sizes.append(lo)
            else:
                sizes[roomy] += 1
    windows = len(sizes)
    per_tx = np.repeat(np.arange(windows), sizes)
    n = len(per_tx)
    window_card = rng.choice(n_cards, size=windows, replace=windows > n_cards)
    # Whole days only, unless the span is shorter than a day: then the window is its first day
    # and the night hours still ahead of the span's end are the ones that can be drawn.
    window_day = rng.integers(0, max(1, timeline.days - 1), size=windows)
    day = window_day[per_tx]
    limit = timeline.limit_seconds(day)
    second = np.zeros(n, dtype=np.int64)
    todo = np.arange(n)
    while len(todo):
        second[todo] = _fraud_seconds(rng, len(todo))
        todo = todo[second[todo] >= limit[todo]]
    t = day * 86400 + second
    shares = np.array([FRAUD_CATEGORY_ROWS[c] for c in CATEGORIES], float)
    category = rng.choice(len(CATEGORIES), size=n, p=shares / shares.sum())
    bounds = np.array([_FRAUD_AMOUNTS[c] for c in CATEGORIES])
    amount = rng.uniform(bounds[category, 0], bounds[category, 1])
    order = np.argsort(t, kind="stable")
    return _Fraud(
        t=t[order],
        card=window_card[per_tx][order],
        category=category[order],
        cents=np.round(amount * 100).astype(np.int64)[order],
    )


def _fraud_seconds(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds of day for fraud: 80 % between 22:00 and 04:00, the rest in the other hours."""
    night = rng.random(n) < FRAUD_NIGHT_SHARE
    day_hours = np.array([h for h in range(24) if h not in FRAUD_NIGHT_HOURS])
    hour = np.where(
        night,
        np.array(FRAUD_NIGHT_HOURS)[rng.integers(0, len(FRAUD_NIGHT_HOURS), n)],
        day_hours[rng.integers(0, len(day_hours), n)],
    )
    return hour * 3600 + rng.integers(0, 3600, n)


def _day_weights(first_day: date, days: int) -> np.ndarray:
    """Relative legitimate volume of each day: its weekday's weight times its month's."""
    epoch_day = (first_day - date(1970, 1, 1)).days + np.arange(days)
    weekday = (epoch_day + 3) % 7  # 1970-01-01 was a Thursday
    month = np.datetime64(first_day, "D") + np.arange(days)
    month_index = month.astype("datetime64[M]").astype(np.int64) % 12
    return _WEEKDAY_WEIGHTS[weekday] * _MONTH_WEIGHTS[month_index]


def _seconds_into_day(volume_share: np.ndarray | float) -> np.ndarray:
    """The time of day (in seconds) before which this share of a day's volume falls."""
    return np.interp(volume_share, _HOUR_SHARE, _HOUR_EDGES)


@cache
def _rows_per_weight() -> float:
    """Expected rows per unit of day weight, so fraudTrain.csv's span holds its row count."""
    first = REFERENCE_START.date()
    whole_days = (REFERENCE_END.date() - first).days
    weights = _day_weights(first, whole_days + 1)
    end_of_day = REFERENCE_END - datetime.combine(REFERENCE_END.date(), datetime.min.time())
    last_share = np.interp(end_of_day.total_seconds(), _HOUR_EDGES, _HOUR_SHARE)
    return REFERENCE_ROWS / (weights[:-1].sum() + weights[-1] * last_share)


def _timeline(first_day: date, rows: int) -> _Timeline:
    """Days from ``first_day`` at the realistic daily rate until ``rows`` are expected."""
    if rows == 0:
        return _Timeline(np.zeros(0), np.zeros(0))
    per_weight = _rows_per_weight()
    # Every day expects at least the quietest weekday in the quietest month: enough days.
    floor = per_weight * _WEEKDAY_WEIGHTS.min() * _MONTH_WEIGHTS.min()
    expected = _day_weights(first_day, int(rows / floor) + 2) * per_weight
    cumulative = np.cumsum(expected)
    last = int(np.searchsorted(cumulative, rows))
    before = float(cumulative[last - 1]) if last else 0.0
    day_share = np.ones(last + 1)
    day_share[last] = (rows - before) / expected[last]
    expected = expected[: last + 1].copy()
    expected[last] = rows - before
    return _Timeline(expected, day_share)


def _unix_lag_seconds(day: date) -> int:
    """Seconds to add to a wall time on ``day`` to get the Sparkov unix_time (7 years earlier)."""
    year = day.year - UNIX_TIME_LAG_YEARS
    # Feb 29 has no twin 7 years earlier; like pandas' DateOffset, use Feb 28.
    earlier = day.replace(year=year, day=min(day.day, calendar.monthrange(year, day.month)[1]))
    return (earlier - day).days * 86400


_SIGNS = pa.array(["", "-"], pa.string())


@cache
def _clock_strings() -> pa.Array:
    """ "HH:MM:SS" for every second of a day, to build timestamps by lookup."""
    return pa.array(
        [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86400)], pa.string()
    )


@cache
def _cents_strings() -> pa.Array:
    """The part after the point for 0..99 cents, as Python's repr writes it (45.0, 4.5, 4.97)."""
    return pa.array(["0" if c == 0 else f"{c:02d}".rstrip("0") for c in range(100)], pa.string())


@cache
def _thousandths() -> tuple[pa.Array, pa.Array]:
    """Lookup tables for 6-decimal fractions built from two 3-digit halves.

    head[h] is the first half when the second half is zero ("5" for 500, "0" for 0) and
    head[1000 + h] the zero-padded first half otherwise; tail[l] is the second half without
    trailing zeros ("" for 0).
    """
    padded = [f"{i:03d}" for i in range(1000)]
    stripped = [p.rstrip("0") for p in padded]
    head = pa.array([s or "0" for s in stripped] + padded, pa.string())
    return head, pa.array(stripped, pa.string())


def _decimal_strings(value_e6: np.ndarray) -> pa.Array:
    """Millionths as the shortest decimal text (-82.048315, 36.0113, 36.0), as repr writes it."""
    head, tail = _thousandths()
    magnitude = np.abs(value_e6)
    fraction = magnitude % 1_000_000
    high, low = fraction // 1000, fraction % 1000
    return pc.binary_join_element_wise(
        pc.take(_SIGNS, pa.array((value_e6 < 0).astype(np.int8))),
        pc.cast(pa.array(magnitude // 1_000_000), pa.string()),
        ".",
        pc.take(head, pa.array(high + 1000 * (low != 0))),
        pc.take(tail, pa.array(low)),
        "",
    )


def _amount_cents(rng: np.random.Generator, category: np.ndarray) -> np.ndarray:
    params = [_LEGIT_AMOUNTS[c] for c in CATEGORIES]
    normal = np.array([p[0] == "normal" for p in params])[category]
    a = np.array([p[1] for p in params])[category]
    b = np.array([p[2] for p in params])[category]
    small_share = np.array([p[3] for p in params])[category]
    small_median = np.array([p[4] or 1.0 for p in params])[category]
    z = rng.standard_normal(len(category))
    small = rng.random(len(category)) < small_share
    lognormal = np.where(small, small_median * np.exp(0.8 * z), a * np.exp(b * z))
    amount = np.where(normal, a + b * z, lognormal)
    return np.round(np.clip(amount, 1.0, 28_000.0) * 100).astype(np.int64)


@dataclass
class _Seen:
    """What the written rows touched, for the summary."""

    cards: np.ndarray  # bool per card
    merchants: np.ndarray  # bool per merchant
    first_time: str | None = None
    last_time: str | None = None


def _blocks(
    rng: np.random.Generator,
    legit_per_day: np.ndarray,
    timeline: _Timeline,
    first_day: date,
    cards: _Cards,
    merchants: _Merchants,
    fraud: _Fraud,
    seen: _Seen,
) -> Iterator[memoryview]:
    """CSV text for consecutive groups of days, each sorted by time."""
    clock = _clock_strings()
    cents_text = _cents_strings()
    cc_num = pa.array(cards.cc_num, pa.string())
    profile = pa.array(cards.profile, pa.string())
    merchant_field = pa.array(merchants.field, pa.string())
    fraud_flag = pa.array(["0\n", "1\n"], pa.string())
    days = len(legit_per_day)
    day_text = pa.array([(first_day + timedelta(days=d)).isoformat() for d in range(days)])
    start_epoch = calendar.timegm(first_day.timetuple())
    unix_lag = np.array([_unix_lag_seconds(first_day + timedelta(days=d)) for d in range(days)])

    row_id = 0
    day = 0
    while day < days:
        end = day + 1
        while end < days and legit_per_day[day:end].sum() < BLOCK_ROWS:
            end += 1
        per_day = legit_per_day[day:end]
        n_legit = int(per_day.sum())
        t = np.repeat(np.arange(day, end) * 86400, per_day)
        # Times of day follow the hourly profile; on the last day only up to the span's end.
        share = np.repeat(timeline.day_share[day:end], per_day)
        t += _seconds_into_day(rng.random(n_legit) * share).astype(np.int64)
        card = np.searchsorted(cards.weight_cdf, rng.random(n_legit), side="right")
        card = np.minimum(card, len(cards.cc_num) - 1)
        category = (rng.random(n_legit)[:, None] > cards.category_cdf[card]).sum(axis=1)
        category = np.minimum(category, len(CATEGORIES) - 1)
        cents = _amount_cents(rng, category)
        is_fraud = np.zeros(n_legit, dtype=np.int64)

        lo, hi = np.searchsorted(fraud.t, [day * 86400, end * 86400])
        if hi > lo:
            t = np.concatenate([t, fraud.t[lo:hi]])
            card = np.concatenate([card, fraud.card[lo:hi]])
            category = np.concatenate([category, fraud.category[lo:hi]])
            cents = np.concatenate([cents, fraud.cents[lo:hi]])
            is_fraud = np.concatenate([is_fraud, np.ones(hi - lo, dtype=np.int64)])
        order = np.argsort(t, kind="stable")
        t, card, category, cents, is_fraud = (
            a[order] for a in (t, card, category, cents, is_fraud)
        )
        n = len(t)
        if n == 0:
            day = end
            continue
        merchant = merchants.first_of_category[category] + (
            rng.random(n) * merchants.count_of_category[category]
        ).astype(np.int64)
        # Sparkov puts the merchant uniformly within one degree of the cardholder's home.
        merch_lat = cards.lat_e6[card] + np.round(rng.uniform(-1, 1, n) * 1e6).astype(np.int64)
        merch_long = cards.long_e6[card] + np.round(rng.uniform(-1, 1, n) * 1e6).astype(np.int64)
        seen.cards[card] = True
        seen.merchants[merchant] = True
        trans_num = pa.StringArray.from_buffers(
            n,
            pa.py_buffer(np.arange(0, 32 * (n + 1), 32, dtype=np.int32).tobytes()),
            pa.py_buffer(rng.bytes(16 * n).hex().encode()),
        )
        day_of_row = t // 86400
        timestamp = pc.binary_join_element_wise(
            pc.take(day_text, pa.array(day_of_row)), pc.take(clock, pa.array(t % 86400)), " "
        )
        unix_time = start_epoch + t + unix_lag[day_of_row]
        if seen.first_time is None:
            seen.first_time = timestamp[0].as_py()
        seen.last_time = timestamp[n - 1].as_py()
        amt = pc.binary_join_element_wise(
            pc.cast(pa.array(cents // 100), pa.string()),
            pc.take(cents_text, pa.array(cents % 100)),
            ".",
        )
        line = pc.binary_join_element_wise(
            pc.cast(pa.array(np.arange(row_id, row_id + n)), pa.string()),
            timestamp,
            pc.take(cc_num, pa.array(card)),
            pc.take(merchant_field, pa.array(merchant)),
            amt,
            pc.take(profile, pa.array(card)),
            trans_num,
            pc.cast(pa.array(unix_time), pa.string()),
            _decimal_strings(merch_lat),
            _decimal_strings(merch_long),
            pc.take(fraud_flag, pa.array(is_fraud)),
            ",",
        )
        row_id += n
        day = end
        offsets, data = line.buffers()[1:]
        bounds = np.frombuffer(offsets, dtype=np.int32, count=len(line) + 1, offset=line.offset * 4)
        yield memoryview(data)[bounds[0] : bounds[-1]]
