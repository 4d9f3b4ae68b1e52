using Csshim.E2E.Rig;
using Newtonsoft.Json.Linq;

namespace Csshim.Cri.Rig;

/// <summary>The suite's two images, from one busybox-static layer: the pod sandbox ("pause") image, whose entrypoint
/// sleeps (a pod's containers join the namespaces of that process, so it must outlive them), and the image the pod's
/// containers run. Written as a `docker save` archive (manifest.json naming each config and the shared layer; ctr
/// computes the digests itself) and imported into containerd's namespace `k8s.io`, the only one the CRI plugin uses.</summary>
public static class CriImages
{
    public const string Pause = "localhost/cri-suite/pause:1";
    public const string Busybox = "localhost/cri-suite/busybox:1";

    public static string Archive(string dir)
    {
        var rootfs = BusyboxImage.RootfsTar(dir);
        var layout = Directory.CreateDirectory(Path.Combine(dir, "images")).FullName;
        File.Copy(rootfs, Path.Combine(layout, "layer.tar"), overwrite: true);
        var diffId = "sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(rootfs)));
        WriteConfig(layout, "pause.json", diffId, new JObject { ["Entrypoint"] = new JArray("/bin/sleep", "2147483647") });
        WriteConfig(layout, "busybox.json", diffId, new JObject { ["Cmd"] = new JArray("sh") });
        File.WriteAllText(Path.Combine(layout, "manifest.json"), new JArray(
            Manifest("pause.json", Pause),
            Manifest("busybox.json", Busybox)).ToString());
        var archive = Path.Combine(dir, "cri-images.tar");
        Cmd.Run("tar", "-C", layout, "-cf", archive, "manifest.json", "pause.json", "busybox.json", "layer.tar").MustSucceed();
        return archive;
    }

    static void WriteConfig(string layout, string name, string diffId, JObject process)
    {
        process["Env"] = new JArray("PATH=/bin");
        File.WriteAllText(Path.Combine(layout, name), new JObject
        {
            ["architecture"] = "amd64",
            ["os"] = "linux",
            ["config"] = process,
            ["rootfs"] = new JObject { ["type"] = "layers", ["diff_ids"] = new JArray(diffId) },
        }.ToString(Newtonsoft.Json.Formatting.None));
    }

    static JObject Manifest(string config, string tag) =>
        new() { ["Config"] = config, ["RepoTags"] = new JArray(tag), ["Layers"] = new JArray("layer.tar") };
}
