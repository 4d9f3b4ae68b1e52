using System.Text;
using Csshim.OciSpec;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace Csshim.ShimRuntime.Install;

/// <summary>What registering the runtime in daemon.json did (or would do).</summary>
internal sealed record DockerChange(string Path, string Name, bool Created, JToken? Before, JObject After, bool Changed)
{
    public string Describe(bool dryRun)
    {
        if (!Changed) return $"docker: runtime \"{Name}\" in {Path} is already up to date";
        var verb = dryRun ? "would " : "";
        var what = Before is null
            ? $"{verb}add runtime \"{Name}\""
            : $"{verb}update runtime \"{Name}\" (was {Before.ToString(Formatting.None)})";
        var where = Created ? $"{Path} ({(dryRun ? "would create it" : "created")})" : Path;
        return $"docker: {what} in {where}: {After.ToString(Formatting.None)}";
    }
}

/// <summary>Docker's daemon.json, merged like `runsc install`: only runtimes.NAME is touched; other keys, other
/// runtimes and the entry's other fields stay as they were.</summary>
internal static class DockerDaemonConfig
{
    private static readonly UnixFileMode NewFileMode =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    public static DockerChange Register(string path, string name, string selfPath, IReadOnlyList<string>? runtimeArgs, bool dryRun)
    {
        path = Path.GetFullPath(path);
        var existing = Read(path);
        var document = existing ?? new JObject();

        var runtimes = document["runtimes"] switch
        {
            null => (JObject)(document["runtimes"] = new JObject()),
            JObject o => o,
            var other => throw new InstallException($"{path}: \"runtimes\" is a {other.Type}, not an object; fix it by hand"),
        };
        var before = runtimes[name]?.DeepClone();
        var entry = runtimes[name] switch
        {
            null => (JObject)(runtimes[name] = new JObject()),
            JObject o => o,
            var other => throw new InstallException($"{path}: runtimes.{name} is a {other.Type}, not an object; fix it by hand"),
        };
        entry["path"] = selfPath;
        if (runtimeArgs is { Count: > 0 })
            entry["runtimeArgs"] = new JArray(runtimeArgs.Select(a => new JValue(a)));
        else if (runtimeArgs is not null)
            entry.Remove("runtimeArgs");

        var changed = existing is null || before is null || !JToken.DeepEquals(before, entry);
        if (changed && !dryRun) Write(path, document, existing is null);
        return new DockerChange(path, name, existing is null, before, (JObject)entry.DeepClone(), changed);
    }

    /// <summary>The file as a JObject, null when it does not exist. Empty or whitespace-only counts as `{}` (dockerd
    /// accepts such a file too).</summary>
    private static JObject? Read(string path)
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
        if (string.IsNullOrWhiteSpace(text)) return new JObject();
        try
        {
            using var reader = new JsonTextReader(new StringReader(text))
            {
                DateParseHandling = DateParseHandling.None,
                FloatParseHandling = FloatParseHandling.Double,
            };
            var token = JToken.ReadFrom(reader, new JsonLoadSettings { DuplicatePropertyNameHandling = DuplicatePropertyNameHandling.Error });
            if (reader.Read())
                throw new InstallException($"{path} is not valid JSON: unexpected content after the object, line {reader.LineNumber}; left unchanged");
            return token as JObject ?? throw new InstallException($"{path} is not a JSON object (found {token.Type}); left unchanged");
        }
        catch (JsonException e)
        {
            throw new InstallException($"{path} is not valid JSON ({e.Message}); left unchanged", e);
        }
    }

    private static void Write(string path, JObject document, bool create)
    {
        try
        {
            var dir = Path.GetDirectoryName(path)!;
            if (create && !Directory.Exists(dir))
                Directory.CreateDirectory(dir, NewFileMode | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
            var mode = create ? NewFileMode : File.GetUnixFileMode(path);
            var text = new StringBuilder();
            using (var writer = new JsonTextWriter(new StringWriter(text)) { Formatting = Formatting.Indented, Indentation = 4 })
                document.WriteTo(writer);
            text.Append('\n');
            AtomicFile.WriteText(path, mode, text.ToString());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InstallException($"cannot write {path}: {e.Message}", e);
        }
    }
}
