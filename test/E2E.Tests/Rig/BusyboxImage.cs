using System.Security.Cryptography;
using Newtonsoft.Json.Linq;

namespace Csshim.E2E.Rig;

/// <summary>The test image, built from busybox-static since no registry is reachable: a rootfs tar for
/// `docker import` / `podman import`, and the same layer wrapped as an OCI image archive for `ctr image import`.</summary>
public static class BusyboxImage
{
    static readonly string[] Applets = ["sh", "cat", "ls", "echo", "sleep", "mkdir", "rm", "true", "false", "tty", "id", "test"];

    /// <summary>Writes dir/busybox.tar (a plain rootfs tar) and returns its path.</summary>
    public static string RootfsTar(string dir)
    {
        var root = Path.Combine(dir, "busybox-rootfs");
        foreach (var d in new[] { "bin", "etc", "proc", "sys", "dev", "tmp", "root" })
            Directory.CreateDirectory(Path.Combine(root, d));
        File.Copy(E2EEnv.Busybox, Path.Combine(root, "bin", "busybox"), overwrite: true);
        foreach (var applet in Applets)
        {
            var link = Path.Combine(root, "bin", applet);
            if (!File.Exists(link)) File.CreateSymbolicLink(link, "busybox");
        }
        File.WriteAllText(Path.Combine(root, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
        File.WriteAllText(Path.Combine(root, "etc", "group"), "root:x:0:\n");
        var tar = Path.Combine(dir, "busybox.tar");
        Cmd.Run("tar", "--numeric-owner", "--owner=0", "--group=0", "-C", root, "-cf", tar, ".").MustSucceed();
        return tar;
    }

    /// <summary>An OCI image layout (one uncompressed layer) as a tar, named `imageName` through the index
    /// annotation `io.containerd.image.name`, which `ctr image import` uses as the image's name.</summary>
    public static string OciArchive(string dir, string rootfsTar, string imageName)
    {
        var layout = Path.Combine(dir, "oci-layout-dir");
        Directory.CreateDirectory(Path.Combine(layout, "blobs", "sha256"));
        var layer = Blob(layout, File.ReadAllBytes(rootfsTar));
        var config = Blob(layout, Utf8(new JObject
        {
            ["architecture"] = "amd64",
            ["os"] = "linux",
            ["config"] = new JObject { ["Env"] = new JArray("PATH=/bin"), ["Cmd"] = new JArray("sh") },
            ["rootfs"] = new JObject { ["type"] = "layers", ["diff_ids"] = new JArray(layer.Digest) },
        }));
        var manifest = Blob(layout, Utf8(new JObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = "application/vnd.oci.image.manifest.v1+json",
            ["config"] = config.Descriptor("application/vnd.oci.image.config.v1+json"),
            ["layers"] = new JArray(layer.Descriptor("application/vnd.oci.image.layer.v1.tar")),
        }));
        var index = new JObject
        {
            ["schemaVersion"] = 2,
            ["manifests"] = new JArray(new JObject(manifest.Descriptor("application/vnd.oci.image.manifest.v1+json"))
            {
                ["annotations"] = new JObject { ["io.containerd.image.name"] = imageName },
                ["platform"] = new JObject { ["architecture"] = "amd64", ["os"] = "linux" },
            }),
        };
        File.WriteAllBytes(Path.Combine(layout, "index.json"), Utf8(index));
        File.WriteAllText(Path.Combine(layout, "oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
        var archive = Path.Combine(dir, "busybox-oci.tar");
        Cmd.Run("tar", "-C", layout, "-cf", archive, ".").MustSucceed();
        return archive;
    }

    sealed record BlobRef(string Digest, long Size)
    {
        public JObject Descriptor(string mediaType) =>
            new() { ["mediaType"] = mediaType, ["digest"] = Digest, ["size"] = Size };
    }

    static BlobRef Blob(string layout, byte[] data)
    {
        var hex = Convert.ToHexStringLower(SHA256.HashData(data));
        File.WriteAllBytes(Path.Combine(layout, "blobs", "sha256", hex), data);
        return new BlobRef("sha256:" + hex, data.Length);
    }

    static byte[] Utf8(JToken j) => System.Text.Encoding.UTF8.GetBytes(j.ToString(Newtonsoft.Json.Formatting.None));
}
