#!/usr/bin/env python3
"""Cross-check edge-infer's mAP against pycocotools, the reference COCO evaluator.

    coco_check.py DUMP.json            # a file from `edge-infer eval --dump DUMP.json`
    coco_check.py --make-fixture OUT   # synthetic predictions + pycocotools' answers, for
                                       # daemon/tests/metrics_vs_pycocotools.rs

The dump holds {"images": N, "classes": C, "detections": [{image, class, score, box}],
"truth": [{image, class, box}]} with boxes as [x1, y1, x2, y2] in pixels. Prints (and with
--json writes) mAP@0.5, mAP@0.5:0.95 and per-class AP as pycocotools computes them
(area range 'all', maxDets 100, 101 recall points).
"""
import argparse
import contextlib
import io
import json
import random
import sys

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def coco_eval(doc):
    images = [{"id": i, "width": 10000, "height": 10000} for i in range(doc["images"])]
    cats = [{"id": c, "name": str(c)} for c in range(doc["classes"])]
    anns = []
    for k, t in enumerate(doc["truth"]):
        x1, y1, x2, y2 = t["box"]
        anns.append({"id": k + 1, "image_id": t["image"], "category_id": t["class"],
                     "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
    gt = COCO()
    gt.dataset = {"images": images, "categories": cats, "annotations": anns}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dets = [{"image_id": d["image"], "category_id": d["class"], "score": d["score"],
                 "bbox": [d["box"][0], d["box"][1], d["box"][2] - d["box"][0], d["box"][3] - d["box"][1]]}
                for d in doc["detections"]]
        dt = gt.loadRes(dets) if dets else COCO()
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    # precision[T, R, K, A, M]: thresholds, recall points, classes, area ranges, maxDets.
    p = ev.eval["precision"][:, :, :, 0, -1]
    per_class = []
    for k in range(doc["classes"]):
        pk = p[:, :, k]
        if (pk == -1).all():
            per_class.append(None)
        else:
            per_class.append([float(np.mean(pk[0][pk[0] > -1])), float(np.mean(pk[pk > -1]))])
    return {"map50": float(ev.stats[1]), "map50_95": float(ev.stats[0]), "per_class": per_class}


def make_fixture(seed=7, images=40, classes=3):
    """Ground truth boxes and imperfect predictions: jittered matches, misses, false
    positives, duplicates, score noise. Covers every matching path of the metric."""
    r = random.Random(seed)
    truth, dets = [], []
    for i in range(images):
        for _ in range(r.randint(0, 5)):
            c = r.randrange(classes)
            x, y, w, h = r.uniform(0, 300), r.uniform(0, 300), r.uniform(10, 120), r.uniform(10, 120)
            truth.append({"image": i, "class": c, "box": [x, y, x + w, y + h]})
            if r.random() < 0.85:
                j = r.uniform(0, 0.35)
                dx, dy = r.uniform(-j, j) * w, r.uniform(-j, j) * h
                s = r.uniform(0.8, 1.25)
                dets.append({"image": i, "class": c, "score": round(r.uniform(0.05, 1.0), 6),
                             "box": [x + dx, y + dy, x + dx + w * s, y + dy + h * s]})
                if r.random() < 0.15:
                    dets.append({"image": i, "class": c, "score": round(r.uniform(0.05, 0.6), 6),
                                 "box": [x + dx + 3, y + dy - 2, x + dx + w * s, y + dy + h * s]})
        for _ in range(r.randint(0, 3)):
            x, y = r.uniform(0, 300), r.uniform(0, 300)
            dets.append({"image": i, "class": r.randrange(classes), "score": round(r.uniform(0.01, 0.9), 6),
                         "box": [x, y, x + r.uniform(5, 80), y + r.uniform(5, 80)]})
    doc = {"images": images, "classes": classes, "detections": dets, "truth": truth}
    doc["pycocotools"] = coco_eval(doc)
    return doc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dump", nargs="?")
    ap.add_argument("--make-fixture", metavar="OUT")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.make_fixture:
        with open(a.make_fixture, "w") as f:
            json.dump(make_fixture(), f)
        return
    if not a.dump:
        ap.error("give a dump file or --make-fixture")
    with open(a.dump) as f:
        res = coco_eval(json.load(f))
    if a.json:
        print(json.dumps(res))
    else:
        print(f"pycocotools mAP@0.5 {res['map50']:.4f}  mAP@0.5:0.95 {res['map50_95']:.4f}")
        for k, v in enumerate(res["per_class"]):
            print(f"  class {k}: " + ("(no objects)" if v is None else f"AP@0.5 {v[0]:.4f}  AP@0.5:0.95 {v[1]:.4f}"))


if __name__ == "__main__":
    sys.exit(main())
