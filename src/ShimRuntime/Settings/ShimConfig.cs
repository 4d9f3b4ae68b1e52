using System.Text.Json;
using System.Text.Json.Nodes;

namespace Csshim.ShimRuntime.Settings;

/// <summary>/etc/csshim/config.json: defaults for callers that cannot pass runtime arguments (containerd's runc shim).</summary>
internal sealed class ShimConfig
{
    public const string DefaultPath = "/etc/csshim/config.json";

    /// <summary>The file the settings came from (for messages); the default path when no file was read.</summary>
    public string Path { get; private init; } = DefaultPath;
    public string? Runtime { get; private init; }
    public IReadOnlyList<string> RuntimeArgs { get; private init; } = [];
    public string? StateDir { get; private init; }
    public string? UpperSize { get; private init; }
    public long? UpperInodes { get; private init; }
    public UpperMode? UpperMode { get; private init; }
    public RestoreMode? RestoreMode { get; private init; }
    public string? CacheDir { get; private init; }
    public long? MaxEntries { get; private init; }
    public IReadOnlyList<string> AllowedTarDirs { get; private init; } = [];
    public bool AllowRootfsTarAnnotation { get; private init; }

    private static readonly string[] Known = ["runtime", "runtimeArgs", "stateDir", "upper", "restore", "cacheDir", "upperSize", "upperInodes", "maxEntries", "allowedTarDirs", "allowRootfsTarAnnotation"];

    /// <summary>Load the file; a missing default file means defaults, a missing file the operator named is an error.</summary>
    public static ShimConfig Load(string path, bool named)
    {
        // Checked first: a thrown FileNotFoundException costs more than the whole rest of a forwarded call.
        if (!named && !File.Exists(path)) return new ShimConfig { Path = path };
        try
        {
            return Parse(File.ReadAllText(path), path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ShimException($"cannot read config {path}: {e.Message}");
        }
    }

    public static ShimConfig Parse(string text, string path)
    {
        JsonObject o;
        try
        {
            o = JsonNode.Parse(text) as JsonObject ?? throw new ShimException($"config {path} must be a JSON object");
        }
        catch (JsonException e)
        {
            throw new ShimException($"config {path} is not valid JSON: {e.Message}");
        }
        foreach (var (key, _) in o)
            if (!Known.Contains(key))
                throw new ShimException($"config {path}: unknown key \"{key}\" (known: {string.Join(", ", Known)})");
        return new ShimConfig
        {
            Path = path,
            Runtime = Str(o, "runtime", path),
            RuntimeArgs = StrList(o, "runtimeArgs", path),
            StateDir = Str(o, "stateDir", path),
            UpperSize = Str(o, "upperSize", path),
            UpperMode = Str(o, "upper", path) switch
            {
                null => null,
                "auto" => Settings.UpperMode.Auto,
                "tmpfs" => Settings.UpperMode.Tmpfs,
                var other => throw new ShimException($"config {path}: \"upper\" is \"{other}\": use \"auto\" or \"tmpfs\""),
            },
            RestoreMode = Str(o, "restore", path) switch
            {
                null => null,
                "layer" => Settings.RestoreMode.Layer,
                "copy" => Settings.RestoreMode.Copy,
                var other => throw new ShimException($"config {path}: \"restore\" is \"{other}\": use \"layer\" or \"copy\""),
            },
            CacheDir = Str(o, "cacheDir", path),
            UpperInodes = WholeNumber(o, "upperInodes", path, allowZero: true),
            MaxEntries = WholeNumber(o, "maxEntries", path, allowZero: false),
            AllowedTarDirs = StrList(o, "allowedTarDirs", path),
            AllowRootfsTarAnnotation = o["allowRootfsTarAnnotation"] switch
            {
                null => false,
                JsonValue v when v.GetValueKind() is JsonValueKind.True or JsonValueKind.False => v.GetValue<bool>(),
                _ => throw new ShimException($"config {path}: \"allowRootfsTarAnnotation\" must be true or false"),
            },
        };
    }

    /// <summary>upperInodes may read 0 here so that UpperCaps refuses it with the reason (0 switches the cap off).</summary>
    private static long? WholeNumber(JsonObject o, string key, string path, bool allowZero) => o[key] switch
    {
        null => null,
        JsonValue v when v.TryGetValue<long>(out var n) && (n > 0 || (allowZero && n == 0)) => n,
        _ => throw new ShimException($"config {path}: \"{key}\" must be a positive whole number"),
    };

    private static string? Str(JsonObject o, string key, string path) => o[key] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        _ => throw new ShimException($"config {path}: \"{key}\" must be a string"),
    };

    private static List<string> StrList(JsonObject o, string key, string path) => o[key] switch
    {
        null => [],
        JsonArray a when a.All(t => t?.GetValueKind() == JsonValueKind.String) => a.Select(t => t!.GetValue<string>()).ToList(),
        _ => throw new ShimException($"config {path}: \"{key}\" must be an array of strings"),
    };
}
