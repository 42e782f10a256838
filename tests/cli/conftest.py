from __future__ import annotations

import csv
from pathlib import Path

import pytest

HEADER = [
    "id",
    "First Name",
    "Last Name",
    "E-mail",
    "Phone",
    "Company",
    "Street",
    "City",
    "Zip",
    "created_at",
]
ROWS = [
    # one person, three records: typo, nickname, reformatted phone, gmail variants
    [
        "1",
        "John",
        "Smith",
        "john.smith@gmail.com",
        "(555) 123-4567",
        "Acme Corp",
        "12 Main Street",
        "Springfield",
        "62701",
        "2020-01-01",
    ],
    [
        "2",
        "Jon",
        "Smith",
        "JohnSmith+crm@googlemail.com",
        "+1 555 123 4567",
        "Acme Corporation",
        "12 Main St",
        "Springfield",
        "62701",
        "2021-06-01",
    ],
    [
        "3",
        "Johnny",
        "Smith",
        "john.smith@gmail.com",
        "",
        "",
        "",
        "Springfield",
        "62701",
        "2019-03-03",
    ],
    # Bob = Robert, same phone and address
    [
        "4",
        "Robert",
        "Jones",
        "rjones@initech.com",
        "555-987-6543",
        "Initech",
        "9 Elm Road",
        "Shelbyville",
        "62565",
        "2018-05-05",
    ],
    [
        "5",
        "Bob",
        "Jones",
        "",
        "5559876543",
        "Initech LLC",
        "9 Elm Rd",
        "Shelbyville",
        "62565",
        "2022-02-02",
    ],
    # swapped first and last name
    [
        "6",
        "Garcia",
        "Maria",
        "maria.garcia@globex.com",
        "555-222-3333",
        "Globex",
        "1 Oak Ave",
        "Capital City",
        "62702",
        "2017-07-07",
    ],
    [
        "7",
        "Maria",
        "Garcia",
        "maria.garcia@globex.com",
        "555-222-3333",
        "Globex Inc",
        "1 Oak Avenue",
        "Capital City",
        "62702",
        "2023-01-01",
    ],
    # a household: same address and landline, different people
    [
        "8",
        "Alice",
        "Brown",
        "alice.brown@yahoo.com",
        "555-444-1111",
        "",
        "7 Pine Lane",
        "Ogdenville",
        "62801",
        "2016-01-01",
    ],
    [
        "9",
        "Peter",
        "Brown",
        "pbrown@hotmail.com",
        "555-444-1111",
        "",
        "7 Pine Lane",
        "Ogdenville",
        "62801",
        "2016-02-01",
    ],
    # namesakes in different cities
    [
        "10",
        "James",
        "Wilson",
        "jwilson@umbrella.com",
        "555-777-0001",
        "Umbrella",
        "3 Birch St",
        "North Haverbrook",
        "62901",
        "2015-01-01",
    ],
    [
        "11",
        "James",
        "Wilson",
        "james.w@stark.com",
        "555-888-0002",
        "Stark Industries",
        "80 Cedar Blvd",
        "Brockway",
        "63001",
        "2015-06-01",
    ],
]
for i in range(12, 60):  # unrelated people, so the model has data to learn from
    ROWS.append(
        [
            str(i),
            f"Person{i}",
            f"Family{i % 37}x{i}",
            f"p{i}@example{i}.com",
            f"555-6{i:02d}-{(i * 7919) % 10000:04d}",
            f"Company {i}",
            f"{i} Road {i}",
            f"Town{i % 9}",
            f"{63000 + i}",
            "2020-01-01",
        ]
    )


@pytest.fixture
def contacts_csv(tmp_path: Path) -> Path:
    path = tmp_path / "contacts.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(ROWS)
    return path
