using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

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

    public void Save(string path)
    {
        var o = new JObject
        {
            ["id"] = Id, ["runtimeRoot"] = RuntimeRoot, ["runtime"] = Runtime, ["bundle"] = Bundle,
            ["lowerDir"] = LowerDir, ["archive"] = Archive, ["archiveResolved"] = ArchiveResolved,
            ["phase"] = Phase, ["created"] = Created,
        };
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, o.ToString(Formatting.Indented));
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Null when the file is missing or unreadable: a crash before it was written left nothing to put back.</summary>
    public static StageRecord? Load(string path)
    {
        try
        {
            var o = JObject.Parse(File.ReadAllText(path), new JsonLoadSettings());
            return new StageRecord
            {
                Id = (string?)o["id"] ?? "",
                RuntimeRoot = (string?)o["runtimeRoot"],
                Runtime = (string?)o["runtime"] ?? "",
                Bundle = (string?)o["bundle"] ?? "",
                LowerDir = (string?)o["lowerDir"] ?? "",
                Archive = (string?)o["archive"],
                ArchiveResolved = (string?)o["archiveResolved"],
                Phase = (string?)o["phase"] ?? "staging",
                Created = (string?)o["created"] ?? "",
            };
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
