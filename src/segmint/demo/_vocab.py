"""Fixed vocabularies of the synthetic data set (catalog, names, places, event details).

Changing anything here changes what a seed generates: keep it stable.
"""

from __future__ import annotations

from typing import NamedTuple


class Category(NamedTuple):
    name: str
    weight: float  # share of the catalog
    median_cents: int  # median list price
    sigma: float  # log-normal spread of list prices
    types: tuple[str, ...]  # product types, used in product names


CATEGORIES: tuple[Category, ...] = (
    Category("wine", 0.10, 1299, 0.55, ("Red Wine", "White Wine", "Rosé", "Sparkling Wine")),
    Category("beer", 0.07, 899, 0.35, ("Lager", "IPA", "Stout", "Pilsner", "Wheat Beer")),
    Category("coffee", 0.07, 999, 0.40, ("Whole Bean Coffee", "Ground Coffee", "Espresso Pods")),
    Category("tea", 0.04, 549, 0.40, ("Green Tea", "Black Tea", "Herbal Tea")),
    Category("snacks", 0.13, 349, 0.45, ("Crisps", "Pretzels", "Chocolate Bar", "Nuts", "Cookies")),
    Category("produce", 0.13, 249, 0.50, ("Apples", "Bananas", "Tomatoes", "Avocados", "Salad")),
    Category("dairy", 0.11, 299, 0.40, ("Milk", "Cheese", "Yogurt", "Butter", "Cream")),
    Category("bakery", 0.06, 349, 0.40, ("Bread", "Croissants", "Bagels", "Muffins")),
    Category("frozen", 0.05, 499, 0.40, ("Pizza", "Ice Cream", "Vegetables", "Fish Fingers")),
    Category("household", 0.08, 599, 0.55, ("Detergent", "Paper Towels", "Sponges", "Bin Bags")),
    Category("personal care", 0.06, 699, 0.55, ("Shampoo", "Toothpaste", "Soap", "Deodorant")),
    Category("pet", 0.04, 1199, 0.60, ("Dog Food", "Cat Food", "Cat Litter", "Pet Treats")),
    Category("electronics", 0.05, 3999, 0.90, ("Headphones", "Charger", "Speaker", "Cable")),
    Category("toys", 0.01, 1999, 0.70, ("Puzzle", "Board Game", "Plush Toy", "Building Set")),
)

#: The private label: the store's own brand.
PRIVATE_LABEL = "Private Label"
BRANDS: tuple[str, ...] = (
    "Acme",
    "Globex",
    PRIVATE_LABEL,
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark",
    "Wonka",
    "Soylent",
    "Vandelay",
)
BRAND_WEIGHTS: tuple[float, ...] = (0.16, 0.13, 0.20, 0.09, 0.08, 0.08, 0.07, 0.07, 0.06, 0.06)

#: The first business accounts have memorable ids (``business_account IN ('acme', 'globex')``).
NAMED_ACCOUNTS: tuple[tuple[str, str], ...] = (
    ("acme", "Acme Corporation"),
    ("globex", "Globex Corporation"),
    ("initech", "Initech"),
    ("umbrella", "Umbrella Corporation"),
    ("hooli", "Hooli"),
    ("stark", "Stark Industries"),
    ("wayne", "Wayne Enterprises"),
    ("wonka", "Wonka Industries"),
)

STORES: tuple[str, ...] = ("eu", "us")
STORE_WEIGHTS: tuple[float, ...] = (0.4, 0.6)
CURRENCIES: tuple[str, ...] = ("EUR", "USD")  # by store

#: Countries of the ``eu`` store, and their cities (the ``us`` store is ``US`` only).
EU_COUNTRIES: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    ("DE", 0.30, ("Berlin", "Hamburg", "Munich", "Cologne")),
    ("FR", 0.22, ("Paris", "Lyon", "Marseille", "Toulouse")),
    ("NL", 0.12, ("Amsterdam", "Rotterdam", "Utrecht")),
    ("ES", 0.12, ("Madrid", "Barcelona", "Valencia")),
    ("IT", 0.12, ("Rome", "Milan", "Naples")),
    ("BE", 0.06, ("Brussels", "Antwerp", "Ghent")),
    ("AT", 0.06, ("Vienna", "Graz", "Salzburg")),
)
US_CITIES: tuple[tuple[str, str], ...] = (
    ("New York", "NY"),
    ("Los Angeles", "CA"),
    ("Chicago", "IL"),
    ("Houston", "TX"),
    ("Phoenix", "AZ"),
    ("Philadelphia", "PA"),
    ("Seattle", "WA"),
    ("Denver", "CO"),
    ("Boston", "MA"),
    ("Miami", "FL"),
)

FIRST_NAMES: tuple[str, ...] = (
    "Anna", "Ben", "Clara", "David", "Emma", "Felix", "Grace", "Hugo", "Isabel", "Jack",
    "Karin", "Leo", "Maria", "Noah", "Olivia", "Paul", "Quinn", "Rosa", "Sam", "Tara",
    "Uma", "Victor", "Wendy", "Xavier", "Yara", "Zoe", "Lucas", "Mia", "Elias", "Sofia",
)  # fmt: skip
LAST_NAMES: tuple[str, ...] = (
    "Smith", "Müller", "Martin", "Garcia", "Rossi", "Jansen", "Peeters", "Huber", "Johnson",
    "Brown", "Schmidt", "Bernard", "Lopez", "Bianchi", "de Vries", "Williams", "Jones",
    "Fischer", "Dubois", "Romero", "Ricci", "Bakker", "Miller", "Davis", "Wagner", "Moreau",
)  # fmt: skip

LOYALTY_TIERS: tuple[str, ...] = ("bronze", "silver", "gold", "platinum")

#: Tags, in the order they appear in a customer's list.
TAGS: tuple[str, ...] = ("vip", "newsletter", "wholesale", "early-access", "gift-buyer", "staff")

STATUSES: tuple[str, ...] = ("completed", "cancelled", "refunded", "failed")
STATUS_WEIGHTS: tuple[float, ...] = (0.90, 0.045, 0.035, 0.02)

#: Lines per order: 1..6, mean ~4.
LINE_COUNT_WEIGHTS: tuple[float, ...] = (0.06, 0.10, 0.17, 0.24, 0.23, 0.20)

EVENT_TYPES: tuple[str, ...] = (
    "product_view",
    "page_view",
    "cart_add",
    "search",
    "wishlist_add",
    "wishlist_remove",
)
EVENT_WEIGHTS: tuple[float, ...] = (0.55, 0.20, 0.10, 0.08, 0.05, 0.02)
VIEW_SOURCES: tuple[str, ...] = ("category", "search", "recommendation", "email", "direct")
PAGE_PATHS: tuple[str, ...] = (
    "/",
    "/sale",
    "/new",
    "/account",
    "/category/wine",
    "/category/coffee",
    "/category/electronics",
    "/stores",
    "/help",
)
SEARCH_QUERIES: tuple[str, ...] = (
    "red wine",
    "ipa",
    "espresso",
    "oat milk",
    "headphones",
    "dog food",
    "gift",
    "organic apples",
    "chocolate",
    "charger",
)
