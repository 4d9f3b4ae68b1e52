using System.Text;
using System.Text.Json.Nodes;

namespace Csshim.ShimRuntime.Staging;

/// <summary>How a container layer stacks a cached layer: csshim's tmpfs staging (for as long as the staging
/// exists), or an engine's layer restored in place (for as long as the engine keeps that layer: it needs the cached
/// layer again on every restart, after a reboot too).</summary>
internal enum ReferenceKind { Staging, EngineLayer }

/// <summary>
/// One reference to a cache entry, a file in its refs/ dir named after the holder. gc removes an entry only when no
/// reference is live: its holder still stacks this entry (the staging's record names the layer, or the engine's
/// upper carries the marker for it), or the csshim that wrote it is still running (a create between taking the
/// entry and recording it in the holder).
/// </summary>
internal sealed record LayerReference(ReferenceKind Kind, string Holder, ProcessIdentity? Creator)
{
    public static LayerReference ForStaging(ContainerStage stage) => new(ReferenceKind.Staging, stage.Dir, ProcessIdentity.Current());
    public static LayerReference ForEngineLayer(string upperDir) => new(ReferenceKind.EngineLayer, upperDir, ProcessIdentity.Current());

    private string FileName => Fnv1a.Hash64(Encoding.UTF8.GetBytes($"{Kind} {Holder}")).ToString("x16") + ".json";

    public void SaveIn(string refsDir)
    {
        Directory.CreateDirectory(refsDir);
        var o = new JsonObject
        {
            ["kind"] = Kind == ReferenceKind.Staging ? "staging" : "engine-layer", ["holder"] = Holder,
            ["creatorPid"] = Creator?.Pid, ["creatorStart"] = Creator?.StartTicks,
        };
        // A tmpfs staging goes with the host, so its reference need not survive a crash (no fsync, which would make
        // every start wait for the cache's disk); an engine's layer outlives a reboot, and its reference with it.
        AtomicFile.WriteText(Path.Combine(refsDir, FileName), UnixFileMode.UserRead | UnixFileMode.UserWrite, o.ToJsonString(),
            durable: Kind == ReferenceKind.EngineLayer);
    }

    public void RemoveFrom(string refsDir)
    {
        if (Directory.Exists(refsDir)) File.Delete(Path.Combine(refsDir, FileName));
    }

    public static IEnumerable<LayerReference> LoadAll(string refsDir)
    {
        if (!Directory.Exists(refsDir)) yield break;
        foreach (var file in Directory.EnumerateFiles(refsDir, "*.json"))
            if (Load(file) is { } reference) yield return reference;
    }

    private static LayerReference? Load(string file)
    {
        try
        {
            if (JsonNode.Parse(File.ReadAllText(file)) is not JsonObject o || o["holder"] is not JsonValue holder) return null;
            var kind = (string?)o["kind"] == "staging" ? ReferenceKind.Staging : ReferenceKind.EngineLayer;
            var creator = o["creatorPid"] is JsonValue pid && o["creatorStart"] is JsonValue start
                ? new ProcessIdentity(pid.GetValue<int>(), start.GetValue<long>()) : null;
            return new LayerReference(kind, holder.GetValue<string>(), creator);
        }
        catch (Exception e) when (e is IOException or System.Text.Json.JsonException or InvalidOperationException or FormatException)
        {
            return null; // an unreadable reference is a half-written one: its creator's create failed
        }
    }

    public bool IsLive(string layerDir, string key) =>
        Creator?.IsAlive() == true || Kind switch
        {
            ReferenceKind.Staging => StageRecord.Load(Path.Combine(Holder, "state.json"))?.Layer == layerDir,
            _ => InPlaceLayer.StackedKey(Holder) == key,
        };
}
