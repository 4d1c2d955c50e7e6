"""What the command prints: tables a person reads, Chinese as text; with --json one document."""

import json

from consentry.consent.v1 import consent_pb2 as pb
from services.cli.output import show

NOTICE = "我们存储您的人脸模板以开启园区闸机。"


def test_a_record_reads_as_a_table_with_chinese_as_text_and_its_lists_as_tables_below(capsys):
    answer = pb.GetPurposeResponse(purpose=pb.Purpose(purpose_id="gate", name="园区闸机"),
                                   notices=[pb.Notice(version=1, language="zh-CN", text=NOTICE),
                                            pb.Notice(version=1, language="en", text="We keep a template.")])
    show(answer, as_json=False)
    table = capsys.readouterr().out

    assert "园区闸机" in table and "\\u" not in table
    assert "purpose.purpose_id" in table and "notices (2)" in table  # nested fields flattened, lists tabled
    assert "zh-CN" in table and "We keep a template." in table


def test_json_is_one_document_with_chinese_as_text(capsys):
    answer = pb.GetPurposeResponse(purpose=pb.Purpose(purpose_id="gate", name="园区闸机"),
                                   notices=[pb.Notice(version=1, language="zh-CN", text=NOTICE)])
    show(answer, as_json=True)
    printed = capsys.readouterr().out

    assert json.loads(printed)["notices"][0]["text"] == NOTICE and NOTICE in printed


def test_rows_read_as_one_table_with_a_column_per_field(capsys):
    show([{"producer": "consent", "completeUpTo": 8, "missing": 0},
          {"producer": "dsr", "completeUpTo": 3, "missing": 1, "note": None}], as_json=False, title="producers")
    table = capsys.readouterr().out
    header = next(line for line in table.splitlines() if "producer" in line and "completeUpTo" in line)

    assert "producers (2)" in table and all(name in header for name in ("missing", "note"))
    assert [line.split()[1] for line in table.splitlines() if line.split()[1:2] in (["consent"], ["dsr"])] == [
        "consent", "dsr"]


def test_values_are_printed_as_they_are_never_as_markup_nor_wrapped_into_a_file(capsys):
    secret = "postgresql://consent:" + "p" * 120 + "@db:5432/consent"
    show({"note": "[/b] and [red]r[/red] :thumbs_up:", "url": secret}, as_json=False)
    printed = capsys.readouterr().out

    assert "[/b] and [red]r[/red] :thumbs_up:" in printed  # rich would have failed on [/b], eaten [red]
    assert secret in printed  # on one line, whole: capsys is no terminal
