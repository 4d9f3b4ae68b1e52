using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace Csshim.ShimRuntime;

/// <summary>/etc/csshim/config.json: defaults for callers that cannot pass runtime arguments (containerd's runc shim).</summary>
internal sealed class ShimConfig
{
    public const string DefaultPath = "/etc/csshim/config.json";

    public string? Runtime { get; private init; }
    public IReadOnlyList<string> RuntimeArgs { get; private init; } = [];
    public string? StateDir { get; private init; }
    public string? UpperSize { get; private init; }
    public IReadOnlyList<string> AllowedTarDirs { get; private init; } = [];
    public bool AllowRootfsTarAnnotation { get; private init; }

    /// <summary>Load the file; a missing default file means defaults, a missing file the operator named is an error.</summary>
    public static ShimConfig Load(string path, bool named)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException && !named)
        {
            return new ShimConfig();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ShimException($"cannot read config {path}: {e.Message}");
        }
        return Parse(text, path);
    }

    public static ShimConfig Parse(string text, string path)
    {
        JObject o;
        try
        {
            o = JObject.Parse(text, new JsonLoadSettings { DuplicatePropertyNameHandling = DuplicatePropertyNameHandling.Error });
        }
        catch (JsonReaderException e)
        {
            throw new ShimException($"config {path} is not valid JSON: {e.Message}");
        }
        foreach (var p in o.Properties())
            if (!Known.Contains(p.Name))
                throw new ShimException($"config {path}: unknown key \"{p.Name}\" (known: {string.Join(", ", Known)})");
        return new ShimConfig
        {
            Runtime = Str(o, "runtime", path),
            RuntimeArgs = StrList(o, "runtimeArgs", path),
            StateDir = Str(o, "stateDir", path),
            UpperSize = Str(o, "upperSize", path),
            AllowedTarDirs = StrList(o, "allowedTarDirs", path),
            AllowRootfsTarAnnotation = o["allowRootfsTarAnnotation"] switch
            {
                null => false,
                { Type: JTokenType.Boolean } b => b.Value<bool>(),
                _ => throw new ShimException($"config {path}: \"allowRootfsTarAnnotation\" must be true or false"),
            },
        };
    }

    private static readonly string[] Known = ["runtime", "runtimeArgs", "stateDir", "upperSize", "allowedTarDirs", "allowRootfsTarAnnotation"];

    private static string? Str(JObject o, string key, string path) => o[key] switch
    {
        null or { Type: JTokenType.Null } => null,
        { Type: JTokenType.String } s => s.Value<string>(),
        _ => throw new ShimException($"config {path}: \"{key}\" must be a string"),
    };

    private static List<string> StrList(JObject o, string key, string path) => o[key] switch
    {
        null or { Type: JTokenType.Null } => [],
        JArray a when a.All(t => t.Type == JTokenType.String) => a.Select(t => t.Value<string>()!).ToList(),
        _ => throw new ShimException($"config {path}: \"{key}\" must be an array of strings"),
    };
}
