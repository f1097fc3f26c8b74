"""The GPU table: schema, units, invariants over every row, and exact-product name resolution."""

import io
import re

import pytest

from llmplan.errors import DataFileError, UnknownGpuError
from llmplan.gpus import load_gpus, normalize, parse_gpu_table, resolve_gpu

GPUS = load_gpus()

CONTRACT_NAMES = ["RTX 3060", "RTX 3060 Laptop", "RTX 3090 Ti", "RTX 4060 Ti 16GB", "RTX 4090", "RTX 5090",
                  "RTX A6000", "RTX 6000 Ada", "RTX PRO 6000 Blackwell", "A10G", "L4", "L40S", "A100 40GB PCIe",
                  "A100 80GB PCIe", "A100 80GB SXM", "H100 PCIe", "H100 SXM", "H100 NVL", "H200", "B200", "MI300X",
                  "RX 7900 XTX", "M1", "M1 Max 32-core", "M2 Ultra 76-core", "M3 Max 40-core", "M4 Max 40-core"]


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_contract_names_resolve(name):
    gpu, _ = resolve_gpu(name)
    assert gpu.memory_gib > 0 and gpu.memory_bw_gbs


def test_case_and_vendor_words_do_not_matter():
    assert resolve_gpu("nvidia geforce rtx 4090")[0].name == resolve_gpu("RTX 4090")[0].name


def test_4090_is_never_the_laptop_part():
    gpu, warnings = resolve_gpu("4090")
    assert gpu.form_factor != "laptop" and "Laptop" not in gpu.name and not warnings


def test_ambiguous_family_warns_with_alternatives():
    gpu, warnings = resolve_gpu("A100")
    assert "A100" in gpu.name
    assert warnings and "ambiguous" in warnings[0] and "alternatives" in warnings[0]


def test_unknown_gpu_suggests():
    with pytest.raises(UnknownGpuError, match="did you mean"):
        resolve_gpu("RTX 4091")


def test_no_alias_maps_to_two_cards():
    seen = {}
    for g in GPUS:
        for key in {normalize(g.name), *(normalize(a) for a in g.aliases)}:
            assert key not in seen or seen[key] == g.name, f"{key!r}: {seen.get(key)} and {g.name}"
            seen[key] = g.name


@pytest.mark.parametrize("g", GPUS, ids=lambda g: g.name)
def test_row_invariants(g):
    assert g.spec_sources, "every row names its sources"
    assert g.vendor in ("NVIDIA", "AMD", "Intel", "Apple", "Google")
    if g.fp8_tflops and g.fp16_tflops:
        assert g.fp8_tflops >= g.fp16_tflops * 0.99, "dense FP8 is at least dense FP16"
    if g.fp16_fp16acc_tflops and g.fp16_tflops:
        assert g.fp16_fp16acc_tflops >= g.fp16_tflops * 0.99, "FP16 accumulate is never slower than FP32"
    # dense, never the 2:4-sparse datasheet figure: each halving of precision at most doubles the dense rate, so
    # a sparse value stored beside a dense one shows up as 4x (GPU_DATA.md: "sparse vs dense")
    half_precision = g.fp16_fp16acc_tflops or g.fp16_tflops
    if g.fp8_tflops and half_precision:
        assert g.fp8_tflops <= 2.05 * half_precision, "FP8 looks like a sparse figure"
    if g.fp4_tflops and half_precision:  # vs FP16: GeForce lists FP8 at its half-rate FP32-accumulate
        assert g.fp4_tflops <= 4.1 * half_precision, "FP4 looks like a sparse figure"
    if g.int8_tops and half_precision:
        assert g.int8_tops <= 2.05 * half_precision, "INT8 looks like a sparse figure"
    if g.memory_bw_gbs:
        # plausible bandwidth per memory type (GB/s): LPDDR 60-1000, GDDR 100-1900, HBM 400-8200
        low, high = {"LP": (60, 1000), "GD": (100, 1900), "HB": (400, 8200)}.get(g.memory_type[:2].upper(),
                                                                                (50, 8200))
        assert low <= g.memory_bw_gbs <= high, f"{g.memory_bw_gbs} GB/s for {g.memory_type}"
    for price_col, date_col in (("street_usd", "price_as_of"), ("cloud_usd_per_hour", "cloud_as_of")):
        if getattr(g, price_col):
            assert re.match(r"\d{4}-\d{2}", getattr(g, date_col)), f"{price_col} needs a date"


def test_datasheet_spot_checks():
    h100 = resolve_gpu("H100 SXM")[0]
    assert (h100.memory_gib, h100.memory_bw_gbs, h100.fp16_tflops) == (80, 3350, pytest.approx(989, rel=0.01))
    rtx4090 = resolve_gpu("RTX 4090")[0]
    assert rtx4090.memory_bw_gbs == pytest.approx(1008) and rtx4090.fp16_tflops == pytest.approx(165.2, rel=0.01)
    assert resolve_gpu("H100 PCIe")[0].memory_bw_gbs == pytest.approx(2000, rel=0.03)
    # the dense halves of the datasheets' sparse headline numbers (3,958 FP8, 624 FP16, 18,000 FP4 "with sparsity")
    assert h100.fp8_tflops == pytest.approx(1979, rel=0.01)
    assert resolve_gpu("A100 80GB SXM")[0].fp16_tflops == pytest.approx(312, rel=0.01)
    assert resolve_gpu("B200")[0].fp4_tflops == pytest.approx(9000, rel=0.01)


def test_malformed_table_names_the_line():
    text = "name,vendor,segment,memory_gib,memory_bw_gbs\nX,NVIDIA,consumer,24,1000\nY,NVIDIA,consumer,lots,1\n"
    with pytest.raises(DataFileError, match=r"t.csv:3: column memory_gib: 'lots' is not a number"):
        parse_gpu_table(io.StringIO(text), "t.csv")


def test_bad_segment_rejected():
    text = "name,vendor,segment,memory_gib,memory_bw_gbs\nX,NVIDIA,gaming,24,1000\n"
    with pytest.raises(DataFileError, match="segment 'gaming'"):
        parse_gpu_table(io.StringIO(text), "t.csv")


def test_user_rows_from_the_config_file_and_gpu_file(tmp_path, monkeypatch):
    header = "name,vendor,segment,memory_gib,memory_bw_gbs,spec_sources\n"
    config = tmp_path / "mine.csv"
    config.write_text(header + "My Card 48GB,NVIDIA,workstation,48,1200,my datasheet\n")
    monkeypatch.setenv("LLMPLAN_GPU_FILE", str(config))
    assert resolve_gpu("my card 48gb", load_gpus())[0].memory_gib == 48
    override = tmp_path / "override.csv"
    override.write_text(header + "RTX 4090,NVIDIA,consumer,24,999,test\n")
    table = load_gpus(str(override))
    assert resolve_gpu("RTX 4090", table)[0].memory_bw_gbs == 999
    assert resolve_gpu("My Card 48GB", table)[0].memory_gib == 48
    broken = tmp_path / "broken.csv"
    broken.write_text(header + "X,NVIDIA,consumer,24\n")
    with pytest.raises(DataFileError, match="broken.csv:2: expected 6 fields, found 4"):
        load_gpus(str(broken))
