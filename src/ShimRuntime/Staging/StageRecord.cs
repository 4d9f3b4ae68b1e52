using System.Text.Json;
using System.Text.Json.Nodes;
using Csshim.OciSpec;

namespace Csshim.ShimRuntime.Staging;

/// <summary>How a container's rootfs was staged. Tmpfs: csshim's own tmpfs upper under an overlay it mounted, and
/// root.path points at that overlay. InPlace: the engine's overlay rootfs kept as it is, the archive restored into it,
/// so the container's writes go to the engine's layer.</summary>
internal enum StagingMode { Tmpfs, InPlace }

/// <summary>state.json of a staging: what csshim needs to snapshot the container, to unstage after a crash, to put the
/// bundle's config.json back, and to recognise a config.json it rewrote itself.</summary>
internal sealed record StageRecord
{
    public required string Id { get; init; }
    /// <summary>`--root` as the caller gave it (null: the runtime's default), for gc's questions to the runtime.</summary>
    public string? RuntimeRoot { get; init; }
    public required string Runtime { get; init; }
    /// <summary>"create" or "run", for operators reading the record.</summary>
    public required string Command { get; init; }
    /// <summary>A foreground run: its creating csshim lives as long as the container and unstages when it ends. Any
    /// other creator lives only while the create is being made.</summary>
    public bool Foreground { get; init; }
    public required StagingMode Mode { get; init; }
    public required string Bundle { get; init; }
    /// <summary>The image rootfs (canonical): the overlay's lower dir in tmpfs mode, the restore target in place.</summary>
    public required string Rootfs { get; init; }
    /// <summary>The upper dir a snapshot reads: csshim's tmpfs upper, or the engine's upperdir.</summary>
    public required string Upper { get; init; }
    public string? Archive { get; init; }
    /// <summary>The cached layer stacked under <see cref="Upper"/> (restore mode "layer"), or null: a snapshot merges the two.</summary>
    public string? Layer { get; init; }
    /// <summary>Fingerprint of the config.json csshim wrote, null when it left config.json alone.</summary>
    public string? WrittenConfig { get; init; }
    public required string Created { get; init; }
    public ProcessIdentity? Creator { get; init; }

    public void Save(string path)
    {
        var o = new JsonObject
        {
            ["id"] = Id, ["runtimeRoot"] = RuntimeRoot, ["runtime"] = Runtime, ["command"] = Command, ["foreground"] = Foreground,
            ["mode"] = Mode == StagingMode.Tmpfs ? "tmpfs" : "in-place", ["bundle"] = Bundle, ["rootfs"] = Rootfs,
            ["upper"] = Upper, ["archive"] = Archive, ["layer"] = Layer, ["writtenConfig"] = WrittenConfig, ["created"] = Created,
            ["creatorPid"] = Creator?.Pid, ["creatorStart"] = Creator?.StartTicks,
        };
        AtomicFile.WriteText(path, UnixFileMode.UserRead | UnixFileMode.UserWrite, o.ToJsonString(BundleSpec.WriteOptions));
    }

    /// <summary>Null when the file is missing or unreadable: a crash before it was written left nothing to put back.</summary>
    public static StageRecord? Load(string path)
    {
        try
        {
            if (JsonNode.Parse(File.ReadAllText(path)) is not JsonObject o) return null;
            string? Str(string key) => o[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
            return new StageRecord
            {
                Id = Str("id") ?? "",
                RuntimeRoot = Str("runtimeRoot"),
                Runtime = Str("runtime") ?? "",
                Command = Str("command") ?? "create",
                Foreground = o["foreground"] is JsonValue fg && fg.GetValueKind() == JsonValueKind.True,
                Mode = Str("mode") == "in-place" ? StagingMode.InPlace : StagingMode.Tmpfs,
                Bundle = Str("bundle") ?? "",
                Rootfs = Str("rootfs") ?? "",
                Upper = Str("upper") ?? "",
                Archive = Str("archive"),
                Layer = Str("layer"),
                WrittenConfig = Str("writtenConfig"),
                Created = Str("created") ?? "",
                Creator = o["creatorPid"] is JsonValue pid && o["creatorStart"] is JsonValue start
                    ? new ProcessIdentity(pid.GetValue<int>(), start.GetValue<long>())
                    : null,
            };
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }

    /// <summary>The creator is a csshim other than this one and still runs: a create being forwarded or a foreground
    /// run, whose staging is in use whatever the runtime says.</summary>
    public bool HasLiveCreatorOtherThanMe =>
        Creator is { } c && c.Pid != Environment.ProcessId && c.IsAlive();
}
