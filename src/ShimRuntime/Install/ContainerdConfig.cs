using System.Text;
using System.Text.RegularExpressions;
using Csshim.OciSpec;

namespace Csshim.ShimRuntime.Install;

/// <summary>What appending the runtime tables to containerd's config.toml did (or would do).</summary>
internal sealed record ContainerdChange(string Path, string Name, bool Created, bool Changed, string Appended, IReadOnlyList<string> Warnings)
{
    public string Describe(bool dryRun)
    {
        if (!Changed) return $"containerd: runtime \"{Name}\" in {Path} is already present";
        var verb = dryRun ? "would append" : "appended";
        var created = Created ? (dryRun ? " (would create the file)" : " (created the file)") : "";
        return $"containerd: {verb} to {Path}{created}:\n{Appended}" +
               (dryRun ? "" : "restart containerd to pick it up");
    }
}

/// <summary>
/// containerd's config.toml, edited as text: the runtime's two tables are appended when absent. A TOML library
/// would rewrite the operator's file (comments, order); appending keeps every byte of it. Only `[table]` headers
/// are recognised: a runtime of the same name defined through dotted keys or inline tables elsewhere is not seen.
/// </summary>
internal static partial class ContainerdConfig
{
    public const string Version2Plugin = "io.containerd.grpc.v1.cri";
    public const string Version3Plugin = "io.containerd.cri.v1.runtime";
    public const string RuntimeType = "io.containerd.runc.v2";

    public static string Snippet(string plugin, string name, string selfPath)
    {
        var table = RuntimeTable(plugin, name);
        return $"""
                {table}
                  runtime_type = {Quote(RuntimeType)}
                {table[..^1]}.options]
                  BinaryName = {Quote(selfPath)}

                """;
    }

    private static string RuntimeTable(string plugin, string name) =>
        $"[plugins.{Quote(plugin)}.containerd.runtimes.{Key(name)}]";

    public static ContainerdChange Register(string path, string name, string selfPath, bool dryRun)
    {
        path = Path.GetFullPath(path);
        var text = ReadOrNull(path);
        var warnings = new List<string>();
        var version = text is null ? null : TopLevelVersion(text);
        var plugin = version == 3 ? Version3Plugin : Version2Plugin;
        if (text is not null && version is null)
            warnings.Add($"{path} has no top-level \"version = 2\": containerd 1.x reads it as version 1, where these tables do not apply");
        else if (version is not null and not (2 or 3))
            warnings.Add($"{path} says version = {version}; the tables written are for version 2");

        string[] runtimePath = ["plugins", plugin, "containerd", "runtimes", name];
        string[] optionsPath = [.. runtimePath, "options"];
        var tables = text is null ? [] : ReadTables(text);
        var runtime = tables.FirstOrDefault(t => t.Path.SequenceEqual(runtimePath));
        var options = tables.FirstOrDefault(t => t.Path.SequenceEqual(optionsPath));
        if (runtime is not null || options is not null)
        {
            var mismatch = Mismatch(runtime, "runtime_type", RuntimeType) ?? Mismatch(options, "BinaryName", selfPath);
            if (mismatch is not null)
                throw new InstallException($"{path} already defines runtime \"{name}\" differently ({mismatch}); left unchanged: edit or remove those tables by hand");
            return new ContainerdChange(path, name, false, false, "", warnings);
        }

        var snippet = Snippet(plugin, name, selfPath);
        var prefix = text switch
        {
            null => "version = 2\n\n",
            "" => "",
            _ when text.EndsWith("\n\n", StringComparison.Ordinal) => "",
            _ when text.EndsWith('\n') => "\n",
            _ => "\n\n",
        };
        if (!dryRun) Write(path, (text ?? "") + prefix + snippet, create: text is null);
        return new ContainerdChange(path, name, text is null, true, snippet, warnings);
    }

    private static string? Mismatch(TomlTable? table, string key, string expected)
    {
        if (table is null) return $"no {key}";
        return table.Values.TryGetValue(key, out var actual)
            ? actual == expected ? null : $"{key} = {Quote(actual)}, not {Quote(expected)}"
            : $"no {key}";
    }

    private static string? ReadOrNull(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InstallException($"cannot read {path}: {e.Message}", e);
        }
    }

    private static void Write(string path, string text, bool create)
    {
        const UnixFileMode newMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
        try
        {
            if (create) Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            AtomicFile.WriteText(path, create ? newMode : File.GetUnixFileMode(path), text);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InstallException($"cannot write {path}: {e.Message}", e);
        }
    }

    /// <summary>A `[table]` and the simple `key = "string"` lines under it.</summary>
    private sealed record TomlTable(string[] Path, Dictionary<string, string> Values);

    [GeneratedRegex(@"^\s*\[(?!\[)(?<key>.*)\]\s*(#.*)?$")]
    private static partial Regex TableHeader();

    [GeneratedRegex(@"^\s*(?<key>[A-Za-z0-9_-]+|""[^""]*""|'[^']*')\s*=\s*(?<value>.*?)\s*(#[^""']*)?$")]
    private static partial Regex KeyValue();

    private static List<TomlTable> ReadTables(string text)
    {
        var tables = new List<TomlTable>();
        TomlTable? current = null;
        foreach (var line in text.Split('\n'))
        {
            var header = TableHeader().Match(line);
            if (header.Success)
            {
                current = SplitKey(header.Groups["key"].Value) is { } path ? new TomlTable(path, new()) : null;
                if (current is not null) tables.Add(current);
                continue;
            }
            if (line.TrimStart().StartsWith("[[", StringComparison.Ordinal))
            {
                current = null;
                continue;
            }
            var kv = KeyValue().Match(line);
            if (current is not null && kv.Success && Unquote(kv.Groups["value"].Value) is { } value)
                current.Values[Unquote(kv.Groups["key"].Value) ?? kv.Groups["key"].Value] = value;
        }
        return tables;
    }

    /// <summary>The top-level `version = N` (before the first table), or null.</summary>
    private static int? TopLevelVersion(string text)
    {
        foreach (var line in text.Split('\n'))
        {
            if (TableHeader().IsMatch(line) || line.TrimStart().StartsWith("[[", StringComparison.Ordinal)) return null;
            var kv = KeyValue().Match(line);
            if (kv.Success && kv.Groups["key"].Value == "version" && int.TryParse(kv.Groups["value"].Value, out var v)) return v;
        }
        return null;
    }

    /// <summary>A dotted TOML key split into its parts, quotes removed; null when it is not one we can read.</summary>
    private static string[]? SplitKey(string key)
    {
        var parts = new List<string>();
        var i = 0;
        while (true)
        {
            while (i < key.Length && key[i] is ' ' or '\t') i++;
            if (i >= key.Length) return null;
            int end;
            if (key[i] is '"' or '\'')
            {
                end = key.IndexOf(key[i], i + 1);
                if (end < 0) return null;
                parts.Add(key[(i + 1)..end]);
                end++;
            }
            else
            {
                end = i;
                while (end < key.Length && (char.IsAsciiLetterOrDigit(key[end]) || key[end] is '_' or '-')) end++;
                if (end == i) return null;
                parts.Add(key[i..end]);
            }
            i = end;
            while (i < key.Length && key[i] is ' ' or '\t') i++;
            if (i == key.Length) return parts.ToArray();
            if (key[i] != '.') return null;
            i++;
        }
    }

    /// <summary>A TOML basic or literal string without escapes, or a bare key; null for anything else.</summary>
    private static string? Unquote(string value)
    {
        if (value.Length >= 2 && (value[0] == '"' && value[^1] == '"' || value[0] == '\'' && value[^1] == '\''))
        {
            var inner = value[1..^1];
            return value[0] == '"' && inner.Contains('\\') ? inner.Replace("\\\\", "\\").Replace("\\\"", "\"") : inner;
        }
        return value.Length > 0 && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-') ? value : null;
    }

    private static string Key(string name) =>
        name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-') ? name : Quote(name);

    private static string Quote(string s) => "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
}
