"""Picks a few corpus files that cover most of what a minimised corpus covers.

usage: select_corpus.py CONTROL_FILE OUT_DIR N

CONTROL_FILE is what `fuzz_target -merge=1 -merge_control_file=CONTROL_FILE MIN_DIR CORPUS...`
(what `cargo fuzz cmin` runs) leaves behind. Greedy: first the coverage edges (COV lines),
then the finer features (FT lines); ties go to the smaller file. Copies the N chosen files
to OUT_DIR (emptied first). See FUZZING.md.
"""
import sys, os, shutil

ctl, out, N = sys.argv[1], sys.argv[2], int(sys.argv[3])
lines = open(ctl).read().split('\n')
n = int(lines[0]); files = lines[2:2+n]
ft = {}; cov = {}; size = {}
for l in lines[2+n:]:
    p = l.split()
    if not p: continue
    if p[0] == 'STARTED': size[int(p[1])] = int(p[2])
    elif p[0] == 'FT': ft[int(p[1])] = set(p[2:])
    elif p[0] == 'COV': cov[int(p[1])] = set(p[2:])
ids = [i for i in ft if i in cov]
allc = set().union(*cov.values()); allf = set().union(*ft.values())
hc, hf, chosen = set(), set(), []
for _ in range(N):
    best = max(ids, key=lambda i: (len(cov[i] - hc), len(ft[i] - hf), -size[i]))
    if len(cov[best] - hc) == 0 and len(ft[best] - hf) == 0: break
    print(f"{len(cov[best]-hc):5d} new edges {len(ft[best]-hf):5d} new ft {size[best]:7d} B  {os.path.basename(files[best])}")
    hc |= cov[best]; hf |= ft[best]; chosen.append(best)
print(f"chosen {len(chosen)}: edges {len(hc)}/{len(allc)} ({100*len(hc)/len(allc):.1f}%), features {len(hf)}/{len(allf)} ({100*len(hf)/len(allf):.1f}%), {sum(size[i] for i in chosen)} bytes")
shutil.rmtree(out, ignore_errors=True); os.makedirs(out)
for i in chosen:
    shutil.copy(files[i], out)
