using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Csshim.OciSpec;

namespace Csshim.ShimRuntime.Install;

/// <summary>What registering the runtime in daemon.json did (or would do).</summary>
internal sealed record DockerChange(string Path, string Name, bool Created, JsonNode? Before, JsonObject After, bool Changed)
{
    public string Describe(bool dryRun)
    {
        if (!Changed) return $"docker: runtime \"{Name}\" in {Path} is already up to date";
        var verb = dryRun ? "would " : "";
        var what = Before is null
            ? $"{verb}add runtime \"{Name}\""
            : $"{verb}update runtime \"{Name}\" (was {DockerDaemonConfig.Compact(Before)})";
        var where = Created ? $"{Path} ({(dryRun ? "would create it" : "created")})" : Path;
        return $"docker: {what} in {where}: {DockerDaemonConfig.Compact(After)}";
    }
}

/// <summary>Docker's daemon.json, merged like `runsc install`: only runtimes.NAME is touched; other keys, other
/// runtimes and the entry's other fields stay as they were (numbers keep their text: JsonNode writes back the
/// token it read).</summary>
internal static class DockerDaemonConfig
{
    private static readonly UnixFileMode NewFileMode =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    // Relaxed escaping: a path or argument with '+' or non-ASCII stays readable in the operator's file.
    private static readonly JsonWriterOptions Indented = new() { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private static readonly JsonWriterOptions OneLine = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    // dockerd (Go) rejects a daemon.json with a key given twice; so does csshim rather than guess which one counts.
    private static readonly JsonDocumentOptions ReadOptions = new() { AllowDuplicateProperties = false };

    public static DockerChange Register(string path, string name, string selfPath, IReadOnlyList<string>? runtimeArgs, bool dryRun)
    {
        path = Path.GetFullPath(path);
        var existing = Read(path);
        var document = existing ?? new JsonObject();

        var runtimes = document["runtimes"] switch
        {
            null when !document.ContainsKey("runtimes") => Add(document, "runtimes"),
            JsonObject o => o,
            var other => throw new InstallException($"{path}: \"runtimes\" is {Kind(other)}, not an object; left unchanged, fix it by hand"),
        };
        var before = runtimes[name]?.DeepClone();
        var entry = runtimes[name] switch
        {
            null when !runtimes.ContainsKey(name) => Add(runtimes, name),
            JsonObject o => o,
            var other => throw new InstallException($"{path}: runtimes.{name} is {Kind(other)}, not an object; left unchanged, fix it by hand"),
        };
        entry["path"] = selfPath;
        if (runtimeArgs is { Count: > 0 })
            entry["runtimeArgs"] = new JsonArray(runtimeArgs.Select(a => (JsonNode?)JsonValue.Create(a)).ToArray());
        else if (runtimeArgs is not null)
            entry.Remove("runtimeArgs");

        var changed = existing is null || before is null || !JsonNode.DeepEquals(before, entry);
        if (changed && !dryRun) Write(path, document, existing is null);
        return new DockerChange(path, name, existing is null, before, (JsonObject)entry.DeepClone(), changed);
    }

    internal static string Compact(JsonNode node) => Serialize(node, OneLine);

    private static JsonObject Add(JsonObject parent, string key)
    {
        var child = new JsonObject();
        parent[key] = child;
        return child;
    }

    private static string Kind(JsonNode? node) => node?.GetValueKind() switch
    {
        null or JsonValueKind.Null => "null",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        var k => $"a {k.ToString()!.ToLowerInvariant()}",
    };

    /// <summary>The file as a JsonObject, null when it does not exist. Empty or whitespace-only counts as `{}`
    /// (dockerd accepts such a file too).</summary>
    private static JsonObject? Read(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InstallException($"cannot read {path}: {e.Message}", e);
        }
        if (string.IsNullOrWhiteSpace(text)) return new JsonObject();
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(text, documentOptions: ReadOptions);
        }
        catch (JsonException e)
        {
            throw new InstallException($"{path} is not valid JSON ({e.Message}); left unchanged", e);
        }
        return node as JsonObject ?? throw new InstallException($"{path} is not a JSON object (found {Kind(node)}); left unchanged");
    }

    private static void Write(string path, JsonObject document, bool create)
    {
        try
        {
            var dir = Path.GetDirectoryName(path)!;
            if (create && !Directory.Exists(dir))
                Directory.CreateDirectory(dir, NewFileMode | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
            var mode = create ? NewFileMode : File.GetUnixFileMode(path);
            AtomicFile.WriteText(path, mode, Serialize(document, Indented) + "\n");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InstallException($"cannot write {path}: {e.Message}", e);
        }
    }

    private static string Serialize(JsonNode node, JsonWriterOptions options)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, options)) node.WriteTo(writer);
        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
