"""Why a refresh's floor grew with other users' sessions (issue #19).

Times, against a MongoDB-wire server, one matching update of a document found
by `_id` three ways, as the collection around it grows: `findAndModify`
(what `rotate_session` used), `update_one` and `delete_one`-after-`find_one`
(what the store uses now). On SecantusDB a matching findAndModify costs a pass
over the whole collection; the others stay flat. Prints a Markdown table.

Usage: .venv/bin/python bench/scripts/find_and_modify.py MONGODB_URI [RUNS]
"""

import datetime
import statistics
import sys
import time

import bson
from pymongo import MongoClient


def p50_ms(action, runs):
    action(-1)
    samples = []
    for i in range(runs):
        started = time.perf_counter()
        action(i)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main():
    uri = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    db = MongoClient(uri)[f"fam_study_{bson.ObjectId()}"]
    now = datetime.datetime.now(datetime.timezone.utc)
    print("| documents | findAndModify | update_one | find_one + delete_one | ping |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    try:
        for size in (10, 1000, 4000):
            sessions = db[f"sessions_{size}"]
            # The indexes of the sessions collection.
            sessions.create_index("refresh_digest", unique=True)
            sessions.create_index("user_id")
            sessions.create_index([("user_id", 1), ("created_at", -1), ("_id", -1)])
            sessions.create_index("expires_at", expireAfterSeconds=0)
            documents = [
                {
                    "_id": bson.ObjectId(),
                    "user_id": bson.ObjectId(),
                    "refresh_digest": f"{size}-{i}",
                    "created_at": now,
                    "expires_at": now + datetime.timedelta(days=1),
                }
                for i in range(size + runs + 1)
            ]
            sessions.insert_many(documents)
            one = documents[0]["_id"]

            def find_and_modify(i):
                sessions.find_one_and_update(
                    {"_id": one}, {"$set": {"refresh_digest": f"fam-{size}-{i}"}}
                )

            def update(i):
                sessions.update_one({"_id": one}, {"$set": {"refresh_digest": f"up-{size}-{i}"}})

            def take(i):
                doomed = documents[size + i]["_id"]
                if sessions.find_one({"_id": doomed}) is not None:
                    sessions.delete_one({"_id": doomed})

            cells = [
                p50_ms(find_and_modify, runs),
                p50_ms(update, runs),
                p50_ms(take, runs),
                p50_ms(lambda _: db.command("ping"), runs),
            ]
            print(f"| {size:,} | " + " | ".join(f"{cell:.2f} ms" for cell in cells) + " |")
    finally:
        db.client.drop_database(db.name)


if __name__ == "__main__":
    main()
