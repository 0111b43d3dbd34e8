"""XML benchmark: the project's PartyList writer against lxml's incremental writer fed from memory.

    python -m benchmarks.xml [--parties 70000] [--repeat 1] [--profile 0]

The same deterministic rows (list of dicts, built before the clock starts) go through, each
variant in a fresh child process so that its peak RSS (ru_maxrss) is its own:
  lxml-baseline  etree.xmlfile writing one <Party> per row, built with Element/SubElement in the
                 same structure as party_element; no validation, no hashing
  routty-sync    what the PartyList asset runs: write_parts(folder, "PartyList", ((number, PARTY_LIST.build(row)) ...))
                 -- each record an lxml element validated alone against the XSD, duplicate keys,
                 upload-sized parts (10 MB by default), SHA-256 -- then validate_document on each part
                 (lxml's XSD validation in C, the blocking check), timed apart and together
and routty-sync once more at a quarter of the parties, to see whether memory is bounded.
Lines are counted as elements + 1 (the declaration): the document printed one element per line.
Target (project guide): at least as fast as the baseline, in bounded memory at a million lines.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._common import (
    Measure,
    child_main,
    peak_mb,
    run_child,
    save,
    summarize,
    table,
)

STEMS = ["Café Müller", "Bäckerei Groß", "Société Générale d'Électricité", "Smith & Sons", "Van den Bergh",
         "Łódź Meble", "Ørsted Energi", "Kaasmakerij \"De Gouden Koe\"", "<Nordic> Trading", "Núñez y Peña",
         "Dvořák Strojírny", "O'Brien & Co", "Ελληνική Εταιρεία", "Fietsenfabriek Hollandia", "Zeeuwse Mosselhandel",
         "Crème & Brûlée", "Jönsson Byggnad", "Molenaar & Zn.", "Tulpen Export", "Straße & Söhne"]
TRADES = ["Bouwmaterialen", "Logistiek", "Consulting", "Import", "Holding", "Trading", "Techniek", "Food"]
FORMS = ["B.V.", "GmbH", "S.A.", "Ltd", "& Co. KG", "N.V.", "S.à r.l.", "A/S", "sp. z o.o."]
# country: (cities, street, postal code pattern: 9 = digit, A = letter), phone prefix, VAT prefix
PLACES = {
    "NL": (["Amsterdam", "Rotterdam", "Den Haag", "'s-Hertogenbosch"], "Keizersgracht", "9999 AA", "+31", "NL"),
    "BE": (["Brussel", "Liège", "Gent"], "Rue de la Loi", "9999", "+32", "BE"),
    "DE": (["München", "Köln", "Düsseldorf"], "Königsallee", "99999", "+49", "DE"),
    "FR": (["Paris", "Orléans", "Besançon"], "Rue de l'Église", "99999", "+33", "FR"),
    "GB": (["London", "Manchester"], "High Street", "AA9 9AA", "+44", "GB"),
    "GR": (["Αθήνα", "Θεσσαλονίκη"], "Οδός Ερμού", "999 99", "+30", "EL"),
}
# The PartyList's <Metadata> fields in party_list.METADATA_FIELDS's order, for the baseline.
METADATA = (("Number", "number"), ("Name1", "name1"), ("Name2", "name2"), ("Address1", "address1"),
            ("Address2", "address2"), ("PostalCode", "postal_code"), ("City", "city"), ("State", "state"),
            ("CountryCode", "country_code"), ("Telephone", "telephone"), ("EmailAddress", "email_address"),
            ("PaymentTerms", "payment_terms"))


def make_rows(n: int, seed: int = 7) -> list[dict]:
    """n model rows (the keys of model.routty_parties), realistic and the same for every seed."""
    rng = random.Random(seed)
    digits = lambda k: "".join(rng.choice("0123456789") for _ in range(k))
    rows = []
    for i in range(n):
        country = rng.choice(list(PLACES))
        cities, street, postal, phone, vat = PLACES[country]
        name = f"{rng.choice(STEMS)} {rng.choice(TRADES)} {rng.choice(FORMS)}"
        rows.append({
            "number": f"V-{i + 1:07d}", "name1": name,
            "name2": "t.a.v. Crediteurenadministratie" if rng.random() < 0.15 else None,
            "address1": f"{street} {rng.randint(1, 250)}",
            "address2": f"Unit {rng.randint(1, 40)}" if rng.random() < 0.1 else None,
            "postal_code": "".join(rng.choice("ABCDEFGHJKLMNPRSTZ") if c == "A" else digits(1) if c == "9" else c
                                   for c in postal),
            "city": rng.choice(cities), "state": "Noord-Holland" if country == "NL" and rng.random() < 0.3 else None,
            "country_code": country, "telephone": f"{phone} {digits(2)} {digits(3)} {digits(4)}",
            "email_address": f"{rng.choice(['ap', 'finance', 'info'])}@example-{i % 997}.{country.lower()}",
            "payment_terms": rng.choice(["14", "30", "60", None]),
            "vat_number": f"{vat}{digits(9)}B01" if rng.random() < 0.9 else None,
            "coc_number": digits(8) if rng.random() < 0.7 else None,
            "party_type": rng.choice(["Supplier", "Customer"]), "active": rng.random() < 0.95,
        })
    return rows


# ---------------------------------------------------------------- in the child process

def _count(path: Path) -> tuple[int, str]:
    """(elements, sha256) of a written document, read in chunks (after the clock and the peak)."""
    elements, sha, carry = 0, hashlib.sha256(), b""
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
            text = carry + chunk  # a 2-byte mark split over two chunks still counts, once
            elements += text.count(b"</") + text.count(b"/>")
            carry = chunk[-1:]
    return elements, sha.hexdigest()


def _baseline(rows: list[dict], path: Path) -> None:
    from lxml import etree

    element, sub = etree.Element, etree.SubElement
    with open(path, "wb") as out, etree.xmlfile(out, encoding="utf-8") as xf:
        xf.write_declaration()
        with xf.element("PartyList"):
            for row in rows:
                party = element("Party")
                metadata = sub(party, "Metadata")
                for tag, column in METADATA:
                    if row[column]:
                        sub(metadata, tag).text = row[column]
                if row["vat_number"] or row["coc_number"]:
                    numbers = sub(metadata, "PartyRegistrationNumbers")
                    for number, scheme in ((row["vat_number"], "VAT"), (row["coc_number"], "CoC")):
                        if number:
                            registration = sub(numbers, "PartyRegistrationNumber")
                            sub(registration, "Number").text = number
                            sub(registration, "Scheme").text = scheme
                sub(sub(party, "Type"), "Name").text = row["party_type"]
                sub(party, "Active").text = "true" if row["active"] else "false"
                xf.write(party)


def _write_and_validate(rows: list[dict], folder: Path, profile: int) -> tuple[Measure, dict, list[Path]]:
    """The project's path: write_parts (upload-sized parts, each record validated alone), then
    validate_document on every part, as the blocking check does."""
    from assets.masterdata import xml_writer
    from assets.masterdata.lists.party_list import PARTY_LIST

    build_record = PARTY_LIST.build
    xml_writer.load_schema("PartyList")
    with Measure(profile) as m:
        records = ((row["number"], build_record(row)) for row in rows)
        build = xml_writer.write_parts(folder, "PartyList", records)
        paths = [part.path for part in build.parts]
        written, peak_after_write = time.perf_counter() - m.t0, peak_mb()
        checked = [xml_writer.validate_document(path, "PartyList") for path in paths]
    validated, errors = sum(n for n, _ in checked), [e for _, es in checked for e in es]
    assert build.records == validated == len(rows) and not build.rejects and not errors, (build, errors)
    return m, {"write_seconds": written, "validate_seconds": m.seconds - written, "files": len(paths),
               "peak_rss_after_write_mb": peak_after_write}, paths


def _child(spec: dict) -> dict:
    rows = make_rows(spec["parties"])
    with tempfile.TemporaryDirectory(prefix="bench-xml-") as tmp:
        if spec["variant"] == "lxml-baseline":
            import lxml.etree  # noqa: F401  (imported before the clock, as the project's is)

            paths = [Path(tmp) / "PartyList.xml"]
            with Measure(spec.get("profile", 0)) as m:
                _baseline(rows, paths[0])
            extra = {"files": 1}
        else:
            m, extra, paths = _write_and_validate(rows, Path(tmp), spec.get("profile", 0))
        result = m.result(parties=len(rows), bytes=sum(p.stat().st_size for p in paths), **extra)
        counts = [_count(path) for path in paths]
    result["elements"] = sum(n for n, _ in counts)
    result["lines"] = result["elements"] + len(paths)  # + one declaration per file
    result["sha256"] = counts[0][1] if len(counts) == 1 else None
    return result


# ---------------------------------------------------------------- in the parent process

def main() -> None:
    if "--child" in sys.argv:
        return child_main(_child)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parties", type=int, default=70_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--profile", type=int, default=0, help="cProfile the routty-sync child: top N functions")
    args = parser.parse_args()

    def run(variant: str, parties: int = args.parties, **extra) -> dict:
        result = run_child("benchmarks.xml", {"variant": variant, "parties": parties, **extra})
        print(f"  {variant:<14} {parties:>8} parties {result['seconds']:7.2f} s  peak {result['peak_rss_mb']:6.1f} MB",
              flush=True)
        return result

    load = os.getloadavg()[0]  # another busy process on 2 cores shows up in every number
    variants = ("lxml-baseline", "routty-sync")
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    for _ in range(args.repeat):
        for variant in variants:
            runs[variant].append(run(variant))
    quarter = run("routty-sync", args.parties // 4)
    if args.profile:
        run("routty-sync", profile=args.profile)

    keys = ("seconds", "cpu_seconds", "write_seconds", "validate_seconds", "rss_before_mb")
    summary = {v: summarize(r, keys) for v, r in runs.items()}
    for s in summary.values():
        s["parties_per_s"] = args.parties / s["seconds"]
    base, ours = summary["lxml-baseline"], summary["routty-sync"]
    ratio = ours["parties_per_s"] / base["parties_per_s"]
    write_ratio = base["seconds"] / ours["write_seconds"]
    report = {
        "parties": args.parties, "lines": base["lines"], "bytes": base["bytes"], "repeat": args.repeat,
        "load_average_at_start": load, "variants": summary,
        "ratio_routty_sync_to_baseline": ratio, "write_only_ratio": write_ratio,
        "target_met": ratio >= 1.0, "files": ours["files"],
        "identical_output": base["sha256"] == ours["sha256"] if ours["sha256"] else None,
        "memory_growth": {"parties_quarter": quarter["parties"], "rss_delta_mb_quarter": quarter["rss_delta_mb"],
                          "peak_rss_mb_quarter": quarter["peak_rss_mb"], "parties_full": args.parties,
                          "rss_delta_mb_full": ours["rss_delta_mb"], "peak_rss_mb_full": ours["peak_rss_mb"]},
    }
    print(f"\nxml: {args.parties} parties = {base['lines']:,} lines (elements + 1), {base['bytes'] / 2**20:.1f} MB; "
          f"median of {args.repeat}; load average at start {load:.2f}")
    print(table([{"variant": v, **s} for v, s in summary.items()], [
        ("variant", "variant", ""), ("seconds", "seconds", ".2f"), ("write s", "write_seconds", ".2f"),
        ("validate s", "validate_seconds", ".2f"), ("parties/s", "parties_per_s", ",.0f"),
        ("RSS before MB", "rss_before_mb", ".1f"), ("peak RSS MB", "peak_rss_mb", ".1f"),
        ("delta MB", "rss_delta_mb", ".1f")]))
    pair_ratios = sorted(b["seconds"] / o["seconds"] for b, o in zip(runs["lxml-baseline"], runs["routty-sync"]))
    pair_write = sorted(b["seconds"] / o["write_seconds"] for b, o in zip(runs["lxml-baseline"], runs["routty-sync"]))
    grow = ours["rss_delta_mb"] - quarter["rss_delta_mb"]
    bounded = grow <= max(10.0, 0.1 * quarter["rss_delta_mb"])
    report.update(pair_ratios=pair_ratios, pair_write_ratios=pair_write, memory_bounded=bounded)
    print("\ntarget                                       figure                       target      met")
    print(f"ratio with validation (baseline s / ours s)  {ratio:5.2f} (pairs {', '.join(f'{r:.2f}' for r in pair_ratios)})"
          f"  >= 1.0      {'MET' if ratio >= 1.0 else 'MISSED'}")
    print(f"ratio writing only (baseline s / write s)    {write_ratio:5.2f} (pairs {', '.join(f'{r:.2f}' for r in pair_write)})"
          f"  (>= 1.0)    {'MET' if write_ratio >= 1.0 else 'MISSED'}")
    print(f"peak RSS delta at {base['lines']:,} lines          {ours['rss_delta_mb']:.1f} MB (at {quarter['parties']} parties "
          f"{quarter['rss_delta_mb']:.1f} MB)  bounded: grows <= max(10 MB, 10 %)  {'MET' if bounded else 'MISSED'}")
    if ours["files"] == 1:
        print(f"same bytes as the baseline: {'yes' if report['identical_output'] else 'NO'}")
    else:
        same = ours["elements"] == base["elements"] + ours["files"] - 1  # one more root element per extra part
        print(f"routty-sync wrote {ours['files']} parts (write_parts' default size); same elements as the baseline "
              f"(plus one root per extra part): {'yes' if same else 'NO'}")
    print(f"memory: routty-sync grows {quarter['rss_delta_mb']:.1f} MB over its start at {quarter['parties']} parties, "
          f"{ours['rss_delta_mb']:.1f} MB at {args.parties} (rows in memory are part of 'before'); of which writing "
          f"{ours['peak_rss_after_write_mb'] - ours['rss_before_mb']:.1f} MB, the rest validate_document")
    print(f"results: {save('xml', report)}")


if __name__ == "__main__":
    main()
