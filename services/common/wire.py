"""Reading the protobuf wire format just far enough to name the field a parser refused: protobuf
says only that a message did not parse, while a client needs to know which string held bytes that
are not UTF-8."""

from google.protobuf.descriptor import Descriptor, FieldDescriptor


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def undecodable_field(descriptor: Descriptor, data: bytes, prefix: str = "") -> str:
    """The dotted path of the first string field that is not UTF-8, "" when none is found."""
    try:
        return _walk(descriptor, data, prefix)
    except IndexError:  # truncated: protobuf's own error says enough
        return ""


def _walk(descriptor: Descriptor, data: bytes, prefix: str) -> str:
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        wire_type, field = key & 7, descriptor.fields_by_number.get(key >> 3)
        if wire_type == 0:
            _, pos = _varint(data, pos)
        elif wire_type in (1, 5):
            pos += 8 if wire_type == 1 else 4
        elif wire_type == 2:
            length, pos = _varint(data, pos)
            chunk, pos = data[pos:pos + length], pos + length
            found = _inside(field, chunk, prefix) if field is not None else ""
            if found:
                return found
        else:
            return ""
    return ""


def _inside(field: FieldDescriptor, chunk: bytes, prefix: str) -> str:
    name = prefix + field.name
    if field.type == FieldDescriptor.TYPE_STRING:
        try:
            chunk.decode("utf-8")
        except UnicodeDecodeError:
            return name
    elif field.type == FieldDescriptor.TYPE_MESSAGE:
        return _walk(field.message_type, chunk, name + ".")
    return ""
