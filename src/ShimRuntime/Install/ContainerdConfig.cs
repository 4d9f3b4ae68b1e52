using Csshim.OciSpec;

namespace Csshim.ShimRuntime.Install;

/// <summary>What registering the runtime in containerd's config.toml did (or would do).</summary>
internal sealed record ContainerdChange(
    string Path, string Name, bool Created, bool Appended, IReadOnlyList<string> Edits, string? Backup, IReadOnlyList<string> Warnings)
{
    public bool Changed => Created || Appended || Edits.Count > 0;

    public string Describe(bool dryRun)
    {
        if (!Changed) return $"containerd: runtime \"{Name}\" in {Path} is already up to date";
        var would = dryRun ? "would " : "";
        var what = Created ? $"{would}create {Path} with runtime \"{Name}\""
            : Appended ? $"{would}append runtime \"{Name}\" to {Path}"
            : $"{would}update runtime \"{Name}\" in {Path}";
        var edits = Edits.Count > 0 ? $" ({string.Join("; ", Edits)})" : "";
        var backup = Backup is null ? "" : $"; {(dryRun ? "would keep" : "kept")} the previous file as {Backup}";
        return $"containerd: {what}{edits}{backup}";
    }
}

/// <summary>
/// containerd's config.toml, edited as text so that every other byte of the operator's file (comments, order, other
/// runtimes) stays as it was: csshim's runtime tables are appended when absent; when present, only the keys csshim
/// owns are set (a key's lines replaced, or a line added) and the rest of the entry is kept. Only `[table]` headers
/// are recognised: a runtime of the same name defined through dotted keys or inline tables elsewhere is not seen.
/// </summary>
internal static class ContainerdConfig
{
    public const string Version2Plugin = "io.containerd.grpc.v1.cri";
    public const string Version3Plugin = "io.containerd.cri.v1.runtime";
    public const string RuntimeType = "io.containerd.runc.v2";
    public const string BackupSuffix = ".csshim-backup";

    /// <summary>The digest pin that goes with an archive key: `dev.csshim.tar.rootfs.upper.sha256` for the bare key,
    /// `dev.csshim.tar.rootfs.upper.sha256.NAME` for `dev.gvisor.tar.rootfs.upper.NAME`.</summary>
    private const string DigestKey = "dev.csshim.tar.rootfs.upper.sha256";

    /// <summary>
    /// containerd copies a Pod's (pod_annotations) or a container's (container_annotations) annotations into the OCI
    /// spec only when a pattern of the runtime entry matches the key (Go path.Match: `*` is any run of characters
    /// but '/'). These admit exactly the keys csshim reads from a tenant: the archive, per container or bare, and its
    /// pin. csshim's other dev.csshim.* keys are its own records and stay out.
    /// </summary>
    public static readonly IReadOnlyList<string> AnnotationPatterns =
        [RootfsTarAnnotation.BaseKey, RootfsTarAnnotation.BaseKey + ".*", DigestKey, DigestKey + ".*"];

    private static string[] RuntimePath(string plugin, string name) => ["plugins", plugin, "containerd", "runtimes", name];

    /// <summary>The keys csshim sets on its runtime table and on the table's `options`.</summary>
    private static (string Key, TomlValue Value)[] RuntimeKeys() =>
    [
        ("runtime_type", TomlValue.String(RuntimeType)),
        ("pod_annotations", TomlValue.Strings(AnnotationPatterns)),
        ("container_annotations", TomlValue.Strings(AnnotationPatterns)),
    ];

    private static (string Key, TomlValue Value)[] OptionsKeys(string selfPath) => [("BinaryName", TomlValue.String(selfPath))];

    public static string Snippet(string plugin, string name, string selfPath) =>
        TableText(RuntimePath(plugin, name), RuntimeKeys(), "") + TableText([.. RuntimePath(plugin, name), "options"], OptionsKeys(selfPath), "");

    private static string TableText(string[] path, (string Key, TomlValue Value)[] keys, string indent) =>
        $"{indent}[{TomlText.Key(path)}]\n" + string.Concat(keys.Select(k => $"{indent}  {k.Key} = {k.Value.Text}\n"));

    public static ContainerdChange Register(string path, string name, string selfPath, bool dryRun)
    {
        path = Path.GetFullPath(path);
        var text = ReadOrNull(path);
        var warnings = new List<string>();
        var version = text is null ? null : TomlText.TopLevelVersion(text);
        var plugin = version == 3 ? Version3Plugin : Version2Plugin;
        if (text is not null && version is null)
            warnings.Add($"{path} has no top-level \"version = 2\": containerd 1.x reads it as version 1, where these tables do not apply");
        else if (version is not null and not (2 or 3))
            warnings.Add($"{path} says version = {version}; the tables written are for version 2");

        if (text is null)
        {
            if (!dryRun) Write(path, "version = 2\n\n" + Snippet(plugin, name, selfPath), create: true);
            return new ContainerdChange(path, name, Created: true, Appended: false, [], null, warnings);
        }

        var document = new TomlDocument(text);
        string[] runtimePath = RuntimePath(plugin, name);
        string[] optionsPath = [.. runtimePath, "options"];
        var runtime = document.Table(runtimePath);
        var options = document.Table(optionsPath);
        bool appended = runtime is null && options is null;
        var edits = new List<string>();
        if (appended)
        {
            document.Append(Snippet(plugin, name, selfPath));
        }
        else
        {
            if (runtime?.Entries.FirstOrDefault(e => e.Key == "options" || e.Key.StartsWith("options.", StringComparison.Ordinal)) is { } inline)
                throw new InstallException($"{path} line {inline.FirstLine + 1} sets the options of runtime \"{name}\" inline; left unchanged: make them a [{TomlText.Key(optionsPath)}] table");
            if (runtime is null)
            {
                document.InsertBefore(optionsPath, TableText(runtimePath, RuntimeKeys(), options!.Indent));
                edits.Add("added its runtime table");
            }
            else
            {
                edits.AddRange(document.SetKeys(runtimePath, RuntimeKeys()));
            }
            if (options is null)
            {
                document.InsertAfter(runtimePath, TableText(optionsPath, OptionsKeys(selfPath), runtime!.Indent));
                edits.Add("added its options table");
            }
            else
            {
                edits.AddRange(document.SetKeys(optionsPath, OptionsKeys(selfPath)));
            }
        }
        if (!appended && edits.Count == 0)
            return new ContainerdChange(path, name, false, false, [], null, warnings);

        var backup = path + BackupSuffix;
        if (!dryRun)
        {
            Write(backup, text, create: false, modeFrom: path);
            Write(path, document.Text, create: false);
        }
        return new ContainerdChange(path, name, false, appended, edits, backup, warnings);
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

    private static void Write(string path, string text, bool create, string? modeFrom = null)
    {
        const UnixFileMode newMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
        try
        {
            if (create) Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            var mode = create ? newMode : File.GetUnixFileMode(modeFrom ?? path);
            AtomicFile.WriteText(path, mode, text);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InstallException($"cannot write {path}: {e.Message}", e);
        }
    }
}
