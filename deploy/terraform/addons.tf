############################################################################################
# Cluster add-ons the manifests need, through the Helm provider: KEDA (the worker pools
# scale on their work in Postgres: deploy/k8s/keda-scaledobject.yaml) and metrics-server
# (the gateway's HPA on CPU: deploy/overlays/production/hpa-api.yaml). Argo CD, Argo
# Rollouts and the Prometheus Operator are platform choices and stay outside this stack.
############################################################################################

# The Helm and Kubernetes providers talk to the cluster this stack creates, with a token
# from the caller's AWS credentials (no kubeconfig file).
data "aws_eks_cluster_auth" "this" {
  name = aws_eks_cluster.this.name
}

provider "helm" {
  kubernetes {
    host                   = aws_eks_cluster.this.endpoint
    cluster_ca_certificate = base64decode(aws_eks_cluster.this.certificate_authority[0].data)
    token                  = data.aws_eks_cluster_auth.this.token
  }
}

resource "helm_release" "metrics_server" {
  name             = "metrics-server"
  repository       = "https://kubernetes-sigs.github.io/metrics-server/"
  chart            = "metrics-server"
  version          = var.metrics_server_chart_version
  namespace        = "kube-system"
  atomic           = true
  cleanup_on_fail  = true
  create_namespace = false

  depends_on = [aws_eks_node_group.default]
}

resource "helm_release" "keda" {
  name             = "keda"
  repository       = "https://kedacore.github.io/charts"
  chart            = "keda"
  version          = var.keda_chart_version
  namespace        = "keda"
  create_namespace = true
  atomic           = true
  cleanup_on_fail  = true

  depends_on = [aws_eks_node_group.default]
}
