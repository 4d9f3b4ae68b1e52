using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Csshim.OciSpec;

/// <summary>A bundle's config.json, edited as a JSON node tree so every field we do not touch survives as written:
/// numbers keep their text (0.1 stays 0.1, 1e300 stays 1e300) and date-like strings are never parsed.</summary>
public sealed class BundleSpec
{
    private JsonObject document = new();
    private bool hadAnnotations;

    private static readonly JsonDocumentOptions ReadOptions = new() { CommentHandling = JsonCommentHandling.Skip };

    /// <summary>Written with relaxed escaping so that '+', '&lt;' or non-ASCII in annotations stay readable.</summary>
    public static readonly JsonSerializerOptions WriteOptions = new()
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>Read BUNDLE/config.json. Throws SpecFormatException naming the file for a missing, unreadable or
    /// malformed file.</summary>
    public static BundleSpec Load(string bundleDir)
    {
        var dir = Path.GetFullPath(bundleDir);
        var path = Path.Combine(dir, "config.json");
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SpecFormatException($"cannot read OCI spec {path}: {e.Message}", e);
        }
        var document = ParseDocument(text, path);
        return new BundleSpec
        {
            BundleDir = dir,
            document = document,
            hadAnnotations = document["annotations"] is not null,
        };
    }

    /// <summary>Parse config.json text; the whole text must be one JSON object.</summary>
    public static JsonObject ParseDocument(string text, string pathForErrors)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(text, documentOptions: ReadOptions);
        }
        catch (JsonException e)
        {
            throw new SpecFormatException($"OCI spec {pathForErrors} is not valid JSON: {e.Message}", e);
        }
        return node as JsonObject
            ?? throw new SpecFormatException($"OCI spec {pathForErrors} is not a JSON object (found {node?.GetValueKind().ToString() ?? "null"})");
    }

    public string BundleDir { get; init; } = "";
    public string ConfigPath => Path.Combine(BundleDir, "config.json");
    /// <summary>The whole document, for fields without an accessor. Edits made here are saved too.</summary>
    public JsonObject Document => document;

    /// <summary>root.path as written (may be relative to the bundle).</summary>
    public string RootPath
    {
        get => document["root"] is JsonObject root && StringOf(root["path"]) is { } p
            ? p
            : throw new SpecFormatException($"OCI spec {ConfigPath} has no root.path string");
        set
        {
            if (document["root"] is not JsonObject root)
                document["root"] = root = new JsonObject();
            root["path"] = value;
        }
    }

    /// <summary>root.path made absolute against the bundle directory.</summary>
    public string AbsoluteRootPath => Path.GetFullPath(Path.Combine(BundleDir, RootPath));

    /// <summary>root.readonly; absent or not a bool reads as false (the OCI default).</summary>
    public bool RootReadonly =>
        document["root"] is JsonObject root && root["readonly"] is JsonValue r && r.GetValueKind() == JsonValueKind.True;

    /// <summary>The string-valued annotations (others are ignored, as Go's map[string]string could not hold them).</summary>
    public IReadOnlyDictionary<string, string> Annotations
    {
        get
        {
            var result = new Dictionary<string, string>(StringComparer.Ordinal);
            if (document["annotations"] is JsonObject a)
                foreach (var (key, value) in a)
                    if (StringOf(value) is { } v)
                        result[key] = v;
            return result;
        }
    }

    public void SetAnnotation(string key, string value)
    {
        if (document["annotations"] is not JsonObject a)
            document["annotations"] = a = new JsonObject();
        a[key] = value;
    }

    /// <summary>Remove one annotation. An annotations object csshim created and emptied goes away again; one the
    /// spec had stays (as `{}`), so the document keeps the shape its writer gave it.</summary>
    public void RemoveAnnotation(string key)
    {
        if (document["annotations"] is not JsonObject a) return;
        a.Remove(key);
        if (a.Count == 0 && !hadAnnotations) document.Remove("annotations");
    }

    /// <summary>The document as config.json text, every untouched field as it was read.</summary>
    public string ToJson() => document.ToJsonString(WriteOptions);

    private static string? StringOf(JsonNode? node) =>
        node is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;
}

/// <summary>A config.json that cannot be read or is not a usable OCI spec; the message names the file and the
/// problem. An IOException so that callers handling file errors handle this one too.</summary>
public sealed class SpecFormatException(string message, Exception? inner = null) : IOException(message, inner);
