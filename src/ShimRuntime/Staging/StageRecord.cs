using System.Text.Json;
using System.Text.Json.Nodes;
using Csshim.OciSpec;

namespace Csshim.ShimRuntime.Staging;

/// <summary>state.json of a staging: enough to unstage after a crash and to find the bundle to put back.</summary>
internal sealed record StageRecord
{
    public required string Id { get; init; }
    public string? RuntimeRoot { get; init; }
    public required string Runtime { get; init; }
    public required string Bundle { get; init; }
    public required string LowerDir { get; init; }
    public string? Archive { get; init; }
    public string? ArchiveResolved { get; init; }
    public string Phase { get; init; } = "staging";
    public required string Created { get; init; }
    public ProcessIdentity? Creator { get; init; }

    public void Save(string path)
    {
        var o = new JsonObject
        {
            ["id"] = Id, ["runtimeRoot"] = RuntimeRoot, ["runtime"] = Runtime, ["bundle"] = Bundle,
            ["lowerDir"] = LowerDir, ["archive"] = Archive, ["archiveResolved"] = ArchiveResolved,
            ["phase"] = Phase, ["created"] = Created,
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
                Bundle = Str("bundle") ?? "",
                LowerDir = Str("lowerDir") ?? "",
                Archive = Str("archive"),
                ArchiveResolved = Str("archiveResolved"),
                Phase = Str("phase") ?? "staging",
                Created = Str("created") ?? "",
                Creator = o["creatorPid"] is JsonValue pid && o["creatorStart"] is JsonValue start
                    ? new ProcessIdentity(pid.GetValue<int>(), start.GetValue<long>())
                    : null,
            };
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
