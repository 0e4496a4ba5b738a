package dev.meshloop.flink;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Optional;
import java.util.TimeZone;
import java.util.regex.Pattern;

import org.apache.flink.core.memory.MemorySegment;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectReader;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.catalog.DataTypeFactory;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.data.binary.BinaryStringData;
import org.apache.flink.table.data.binary.BinaryStringDataUtil;
import org.apache.flink.table.functions.TableFunction;
import org.apache.flink.table.shaded.com.jayway.jsonpath.spi.json.JacksonJsonProvider;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.inference.ArgumentTypeStrategy;
import org.apache.flink.table.types.inference.InputTypeStrategies;
import org.apache.flink.table.types.inference.TypeInference;

/**
 * LATERAL TABLE(MESHLOOP_JSON_FIELDS(payload, 'order_id:string!,amount:double,...')): a
 * materialization's record parsed ONCE and typed, with the error that routes it to the dead-letter
 * table. It does what the per-field SQL it replaces did (src/materialize/flink-sql.ts, parser
 * 'per-field'), with the same Flink code underneath:
 *
 * <ul>
 *   <li>the record is read by the parser Flink's JSON functions use (json-path's Jackson provider,
 *       shaded in flink-table-runtime), and each field's text is what JSON_VALUE gives (a scalar's
 *       text; null for a missing field, JSON null, an object or an array) or, for `json` fields,
 *       JSON_QUERY's text of an object or array;
 *   <li>each text is typed by the methods Flink's CAST from STRING calls (BinaryStringDataUtil),
 *       null where TRY_CAST gives null; timestamps as epoch milliseconds (up to 15 digits) or an
 *       ISO-8601 instant in UTC (the jobs' `table.local-time-zone`);
 *   <li>the error: a tombstone, not a JSON object, or each field that is missing/null (required)
 *       or present but not of its type, joined by '; '; empty for a good record.
 * </ul>
 *
 * <p>A table function emitting one row per record, so the planner gives it an operator of its own
 * (a scalar function returning a row would be inlined into every expression reading its fields).
 * Spec: comma-separated `name:type`, `!` after the type for a required field. A third argument,
 * 'errors', is the dead-letter branch's call: only records with an error are emitted.
 */
public class JsonFields extends TableFunction<RowData> {
  /** What Flink's JSON functions parse and print with (SqlJsonUtils' JSON_PATH_JSON_PROVIDER). */
  private static final JacksonJsonProvider JSON = new JacksonJsonProvider();
  /**
   * The same Jackson settings as that provider's (a default ObjectMapper read into untyped Java
   * values), streamed: only the listed fields' values are built, every other token is still read.
   */
  private static final ObjectMapper MAPPER = new ObjectMapper();
  private static final ObjectReader UNTYPED = MAPPER.readerFor(Object.class);

  private static final Pattern EPOCH_MILLIS = Pattern.compile("^-?[0-9]{1,15}$");
  private static final Pattern TRAILING_Z = Pattern.compile("Z$");
  private static final TimeZone UTC = TimeZone.getTimeZone("UTC");
  private static final String TOMBSTONE = "tombstone: deletes are not applied to the table";
  private static final String NOT_AN_OBJECT = "not a JSON object";

  private static final class Field {
    final String name;
    final String type;
    final boolean required;
    final StringData missing;
    final StringData wrongType;
    final boolean json;

    Field(String part) {
      String text = part.trim();
      required = text.endsWith("!");
      if (required) text = text.substring(0, text.length() - 1);
      int colon = text.lastIndexOf(':');
      // Interned, as Jackson's names are: the usual lookup is one identity comparison.
      name = text.substring(0, colon).intern();
      type = text.substring(colon + 1);
      json = type.equals("json");
      missing = StringData.fromString(name + ": missing, null or not a " + type);
      wrongType = StringData.fromString(name + ": not a " + type);
    }
  }

  private static Field[] fieldsOf(String spec) {
    if (spec.isEmpty()) return new Field[0];
    String[] parts = spec.split(",");
    Field[] fields = new Field[parts.length];
    for (int i = 0; i < parts.length; i++) fields[i] = new Field(parts[i]);
    return fields;
  }

  private static DataType dataTypeOf(String type) {
    switch (type) {
      case "string":
      case "json":
        return DataTypes.STRING();
      case "int":
        return DataTypes.INT();
      case "long":
        return DataTypes.BIGINT();
      case "float":
        return DataTypes.FLOAT();
      case "double":
        return DataTypes.DOUBLE();
      case "decimal":
        return DataTypes.DECIMAL(38, 10);
      case "boolean":
        return DataTypes.BOOLEAN();
      case "date":
        return DataTypes.DATE();
      case "timestamp":
        return DataTypes.TIMESTAMP_LTZ(3);
      case "bytes":
        return DataTypes.BYTES();
      default:
        throw new IllegalArgumentException("meshloop_json_fields: unknown field type " + type);
    }
  }

  /**
   * Each listed field's text as JSON_VALUE (or, for json, JSON_QUERY then JSON_VALUE) renders the
   * value Flink's parser read: a string's text, a number's Java text (Integer, Long, BigInteger or
   * Double, as an untyped read makes them), true/false; null for JSON null, and for an object or
   * an array unless the field is json (then its JSON text). The last of duplicate keys wins, as in
   * a map. False when the payload is not a JSON object, or not valid JSON up to the object's end.
   */
  private boolean readFields(StringData payload, String[] texts, Object[] values) {
    try (JsonParser parser = parserOf(payload)) {
      if (parser.nextToken() != JsonToken.START_OBJECT) return false;
      int next = 0;
      while (parser.nextToken() == JsonToken.FIELD_NAME) {
        int i = positionOf(parser.getCurrentName(), next);
        JsonToken token = parser.nextToken();
        if (i < 0) {
          parser.skipChildren();
          continue;
        }
        next = i + 1;
        switch (token) {
          case START_OBJECT:
          case START_ARRAY:
            if (fields[i].json) {
              texts[i] = JSON.toJson(UNTYPED.readValue(parser));
            } else {
              parser.skipChildren();
              texts[i] = null;
            }
            break;
          case VALUE_STRING:
            Object value = typedString(parser, fields[i]);
            if (value != null) {
              texts[i] = TYPED;
              values[i] = value;
            } else {
              texts[i] = parser.getText();
            }
            break;
          case VALUE_NUMBER_INT:
          case VALUE_NUMBER_FLOAT:
            texts[i] = NUMBER;
            values[i] = parser.getNumberValue();
            break;
          case VALUE_TRUE:
            texts[i] = "true";
            break;
          case VALUE_FALSE:
            texts[i] = "false";
            break;
          default:
            texts[i] = null;
        }
      }
      return parser.currentToken() == JsonToken.END_OBJECT;
    } catch (Exception notJson) {
      return false;
    }
  }

  /** A sentinel text: the field held a JSON number, its value is in `values`. */
  private static final String NUMBER = new String("number");
  /** A sentinel text: the field held a string already typed, its value is in `values`. */
  private static final String TYPED = new String("typed");

  /**
   * A field's position: the one after the previous field's when the record lists them in the spec's
   * order (the usual case, one identity comparison of interned names), else by lookup; -1 when the
   * record's field is not in the spec.
   */
  private int positionOf(String name, int guess) {
    if (guess < fields.length && fields[guess].name == name) return guess;
    Integer index = positions.get(name);
    return index == null ? -1 : index;
  }

  /**
   * A string value typed from the parser's characters, without a Java String: a string or json
   * field's ASCII text as its UTF-8 bytes (what StringData.fromString would encode), a timestamp
   * field's ISO-8601 instant. Null: take the text path (non-ASCII text, any other type or form).
   */
  private static Object typedString(JsonParser parser, Field field) throws java.io.IOException {
    char[] chars = parser.getTextCharacters();
    int offset = parser.getTextOffset();
    int length = parser.getTextLength();
    switch (field.type) {
      case "string":
      case "json":
        byte[] bytes = new byte[length];
        for (int i = 0; i < length; i++) {
          char c = chars[offset + i];
          if (c >= 0x80) return null;
          bytes[i] = (byte) c;
        }
        return BinaryStringData.fromBytes(bytes);
      case "timestamp":
        return isoInstant(chars, offset, length);
      default:
        return null;
    }
  }

  /**
   * A parser over the record's bytes as Flink holds them when they are an ASCII JSON object (the
   * common case): no String decoded first, and ASCII reads the same as bytes or as text. Anything
   * else is read from its text, as Flink's JSON functions read it (their decoding of invalid UTF-8,
   * no guessing of UTF-16 from zero bytes).
   */
  private static JsonParser parserOf(StringData payload) throws java.io.IOException {
    if (payload instanceof BinaryStringData) {
      BinaryStringData binary = (BinaryStringData) payload;
      MemorySegment[] segments = binary.getSegments();
      int offset = binary.getOffset();
      int size = binary.getSizeInBytes();
      if (segments != null
          && segments.length == 1
          && !segments[0].isOffHeap()
          && offset + size <= segments[0].size()
          && isAsciiObject(segments[0], offset, size)) {
        return MAPPER.getFactory().createParser(segments[0].getArray(), offset, size);
      }
    }
    return MAPPER.getFactory().createParser(payload.toString());
  }

  private static final long HIGH_BITS = 0x8080808080808080L;

  /** Starts with '{' (no UTF-16 zero byte after it) and every byte is ASCII: 8 bytes at a time. */
  private static boolean isAsciiObject(MemorySegment segment, int offset, int size) {
    byte[] bytes = segment.getArray();
    if (size < 2 || bytes[offset] != '{' || bytes[offset + 1] == 0) return false;
    int i = offset + 1;
    int end = offset + size;
    for (; i + 8 <= end; i += 8) if ((segment.getLong(i) & HIGH_BITS) != 0) return false;
    for (; i < end; i++) if (bytes[i] < 0) return false;
    return true;
  }

  /**
   * A JSON number typed without its text where that gives what TRY_CAST of JSON_VALUE's text gives:
   * a double from any number Jackson read as a double, int or long (the text of a Double round-trips
   * to it, a long's decimal text parses to the same nearest double); an int or long from an integer
   * that fits. Null: take the text path.
   */
  private static Object typedNumber(Number number, String type) {
    boolean integral = number instanceof Integer || number instanceof Long;
    switch (type) {
      case "double":
        return integral || number instanceof Double ? (Object) number.doubleValue() : null;
      case "long":
        return integral ? (Object) number.longValue() : null;
      case "int":
        return number instanceof Integer ? number : null;
      default:
        return null;
    }
  }

  /** TRY_CAST(text AS type) and the per-field SQL's timestamp and bytes rules; null when it fails. */
  private static Object typed(String text, String type) {
    if (text == null) return null;
    try {
      BinaryStringData s = BinaryStringData.fromString(text);
      switch (type) {
        case "string":
        case "json":
          return s;
        case "int":
          return BinaryStringDataUtil.toInt(s.trim());
        case "long":
          return BinaryStringDataUtil.toLong(s.trim());
        case "float":
          return BinaryStringDataUtil.toFloat(s.trim());
        case "double":
          return BinaryStringDataUtil.toDouble(s.trim());
        case "decimal":
          return BinaryStringDataUtil.toDecimal(s, 38, 10);
        case "boolean":
          return BinaryStringDataUtil.toBoolean(s);
        case "date":
          return BinaryStringDataUtil.toDate(s);
        case "timestamp":
          TimestampData instant = isoInstant(text);
          if (instant != null) return instant;
          if (EPOCH_MILLIS.matcher(text).find()) {
            return TimestampData.fromEpochMillis(BinaryStringDataUtil.toLong(s.trim()));
          }
          String iso = TRAILING_Z.matcher(text.replace("T", " ")).replaceAll("");
          return BinaryStringDataUtil.toTimestamp(BinaryStringData.fromString(iso), 3, UTC);
        case "bytes":
          return Base64.getDecoder().decode(text.getBytes(StandardCharsets.UTF_8));
        default:
          return null;
      }
    } catch (Exception notOfItsType) {
      return null;
    }
  }

  private static int digits(char[] text, int from, int to) {
    int value = 0;
    for (int i = from; i < to; i++) {
      char c = text[i];
      if (c < '0' || c > '9') return -1;
      value = value * 10 + (c - '0');
    }
    return value;
  }

  private static boolean isLeapYear(int year) {
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  }

  private static int lengthOfMonth(int year, int month) {
    switch (month) {
      case 2:
        return isLeapYear(year) ? 29 : 28;
      case 4:
      case 6:
      case 9:
      case 11:
        return 30;
      default:
        return 31;
    }
  }

  /** Days since 1970-01-01 of a proleptic Gregorian date, as LocalDate.toEpochDay counts them. */
  static long epochDay(int year, int month, int day) {
    long y = month <= 2 ? year - 1 : year;
    long era = Math.floorDiv(y, 400);
    long yearOfEra = y - era * 400;
    long dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    long dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear;
    return era * 146_097 + dayOfEra - 719_468;
  }

  private static TimestampData isoInstant(String text) {
    return isoInstant(text.toCharArray(), 0, text.length());
  }

  /**
   * The common case, `yyyy-MM-ddTHH:mm:ss[.f{1,9}]Z` with every field in range (what Flink's JSON
   * format and JavaScript's toISOString write), read directly: the same instant Flink's cast gives
   * (its formatter, the fraction cut to milliseconds, UTC). Anything else (null here) takes the
   * general path below, Flink's own.
   */
  private static TimestampData isoInstant(char[] text, int at, int length) {
    if (length < 20 || length > 30 || text[at + length - 1] != 'Z' || text[at + 4] != '-'
        || text[at + 7] != '-' || text[at + 10] != 'T' || text[at + 13] != ':'
        || text[at + 16] != ':') {
      return null;
    }
    int year = digits(text, at, at + 4);
    int month = digits(text, at + 5, at + 7);
    int day = digits(text, at + 8, at + 10);
    int hour = digits(text, at + 11, at + 13);
    int minute = digits(text, at + 14, at + 16);
    int second = digits(text, at + 17, at + 19);
    int nanos = 0;
    if (length > 20) {
      int fraction = length - 21;
      if (text[at + 19] != '.' || fraction < 1 || fraction > 9) return null;
      nanos = digits(text, at + 20, at + length - 1);
      if (nanos < 0) return null;
      for (int i = fraction; i < 9; i++) nanos *= 10;
    }
    if (year < 1 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0
        || minute > 59 || second < 0 || second > 59 || day > lengthOfMonth(year, month)) {
      return null;
    }
    long seconds = epochDay(year, month, day) * 86_400L + hour * 3_600L + minute * 60L + second;
    return TimestampData.fromEpochMillis(seconds * 1000L + nanos / 1_000_000);
  }

  private transient String spec;
  private transient Field[] fields;
  private transient HashMap<String, Integer> positions;

  private GenericRowData parse(StringData payload, String fieldSpec) {
    if (spec == null || !spec.equals(fieldSpec)) {
      fields = fieldsOf(fieldSpec);
      positions = new HashMap<>();
      for (int i = 0; i < fields.length; i++) positions.put(fields[i].name, i);
      spec = fieldSpec;
    }
    int n = fields.length;
    GenericRowData row = new GenericRowData(n + 1);
    if (payload == null) {
      row.setField(n, StringData.fromString(TOMBSTONE));
      return row;
    }
    String[] texts = new String[n];
    Object[] values = new Object[n];
    if (!readFields(payload, texts, values)) {
      row.setField(n, StringData.fromString(NOT_AN_OBJECT));
      return row;
    }
    List<StringData> errors = null;
    for (int i = 0; i < n; i++) {
      Field field = fields[i];
      String text = texts[i];
      Object value = null;
      if (text == TYPED) {
        value = values[i];
      } else if (text == NUMBER) {
        value = typedNumber((Number) values[i], field.type);
        // Anything else as JSON_VALUE renders it: the number's Java text.
        if (value == null) text = String.valueOf(values[i]);
      }
      if (value == null) value = typed(text, field.type);
      row.setField(i, value);
      StringData error =
          value != null ? null : field.required ? field.missing : text != null ? field.wrongType : null;
      if (error != null) {
        if (errors == null) errors = new ArrayList<>(2);
        errors.add(error);
      }
    }
    // Flink's empty string, held as UTF-8 bytes: a String-backed "" is encoded to UTF-8 again at each
    // copy and each comparison downstream (the jobs' `error = ''` filters).
    row.setField(n, errors == null ? BinaryStringData.EMPTY_UTF8 : joined(errors));
    return row;
  }

  private static StringData joined(List<StringData> errors) {
    StringBuilder out = new StringBuilder();
    for (StringData error : errors) {
      if (out.length() > 0) out.append("; ");
      out.append(error.toString());
    }
    return StringData.fromString(out.toString());
  }

  /**
   * The last record this thread parsed, with its fields and result. A statement set's two branches
   * (the table's rows, the dead letters) each call the function on the same record, one right after
   * the other in the same task thread: the second call reuses the first's parse. Equal inputs give
   * equal rows, so the memo never changes an answer.
   */
  private static final class Memo {
    StringData payload;
    String fields;
    Object[] values;
  }

  private static final ThreadLocal<Memo> LAST = ThreadLocal.withInitial(Memo::new);

  /** This instance's thread's memo (an instance runs in one task thread), looked up once. */
  private transient Memo memo;

  public void eval(StringData payload, String fieldSpec) {
    emit(payload, fieldSpec, false);
  }

  /**
   * The dead letters' call (`only` is 'errors'): a record is emitted only when it has an error. A
   * good record, the common case, then costs that branch a memo lookup and nothing more: no row is
   * made only for the branch's filter to drop it.
   */
  public void eval(StringData payload, String fieldSpec, String only) {
    emit(payload, fieldSpec, ONLY_ERRORS.equals(only));
  }

  static final String ONLY_ERRORS = "errors";

  private void emit(StringData payload, String fieldSpec, boolean onlyErrors) {
    if (memo == null) memo = LAST.get();
    Memo last = memo;
    if (payload != null && payload.equals(last.payload) && fieldSpec.equals(last.fields)) {
      if (!onlyErrors || hasError(last.values)) collect(GenericRowData.of(last.values.clone()));
      return;
    }
    GenericRowData row = parse(payload, fieldSpec);
    Object[] values = new Object[row.getArity()];
    for (int i = 0; i < values.length; i++) values[i] = row.getField(i);
    // A copy: Flink may reuse the record's memory for the next one.
    last.payload =
        payload instanceof BinaryStringData ? ((BinaryStringData) payload).copy() : payload;
    last.fields = fieldSpec;
    last.values = values;
    if (!onlyErrors || hasError(values)) collect(row);
  }

  /** The error is the last value; a good record's is Flink's empty string (see parse). */
  private static boolean hasError(Object[] values) {
    Object error = values[values.length - 1];
    return error != BinaryStringData.EMPTY_UTF8 && !error.toString().isEmpty();
  }

  /** The record as Flink holds it (its UTF-8 bytes), not decoded to a Java String. */
  private static final ArgumentTypeStrategy PAYLOAD =
      InputTypeStrategies.explicit(DataTypes.STRING().bridgedTo(StringData.class));

  private static final ArgumentTypeStrategy LITERAL_STRING =
      InputTypeStrategies.and(
          InputTypeStrategies.LITERAL, InputTypeStrategies.explicit(DataTypes.STRING()));

  @Override
  public TypeInference getTypeInference(DataTypeFactory typeFactory) {
    return TypeInference.newBuilder()
        .inputTypeStrategy(
            InputTypeStrategies.or(
                InputTypeStrategies.sequence(PAYLOAD, LITERAL_STRING),
                // The dead letters' call, with 'errors': see eval(payload, fieldSpec, only).
                InputTypeStrategies.sequence(PAYLOAD, LITERAL_STRING, LITERAL_STRING)))
        .outputTypeStrategy(
            context -> {
              // Any other third argument would silently mean "every record": refuse it when planned.
              if (context.getArgumentDataTypes().size() == 3
                  && !context.getArgumentValue(2, String.class).map(ONLY_ERRORS::equals).orElse(false)) {
                throw context.newValidationError(
                    "meshloop_json_fields takes '%s' as its third argument (emit only the records"
                        + " with an error), not %s; leave it out to emit every record",
                    ONLY_ERRORS,
                    context
                        .getArgumentValue(2, String.class)
                        .map(value -> "'" + value + "'")
                        .orElse("a value that is not a string literal"));
              }
              Field[] columns = fieldsOf(context.getArgumentValue(1, String.class).orElse(""));
              DataTypes.Field[] row = new DataTypes.Field[columns.length + 1];
              for (int i = 0; i < columns.length; i++) {
                row[i] = DataTypes.FIELD("v" + i, dataTypeOf(columns[i].type));
              }
              row[columns.length] = DataTypes.FIELD("error", DataTypes.STRING().notNull());
              return Optional.of(DataTypes.ROW(row).bridgedTo(RowData.class));
            })
        .build();
  }
}
