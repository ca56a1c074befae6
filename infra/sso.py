"""The sign-in option (``sso: true``): which UIs sit behind OIDC, where, and the flows that reach them.

People → internal ALB (HTTPS, the ACM certificate, the platform's security group) → one oauth2-proxy
per UI in namespace ``sso`` (signs people in with the OIDC provider, then proxies) → the UI's pods.
The UIs admit the proxies only (namespace and pod labels), never the load balancer's subnets: the
sign-in is enforced at the pod as well as at the edge. The proxies reach the provider over HTTPS.

Why oauth2-proxy and not the ALB's ``authenticate-oidc`` action: with the action, the ALB itself
forwards to the UI pods, so their NetworkPolicy must admit the ALB's subnets, which on an internal
ALB are the private subnets every node and pod lives in: anything in the VPC would reach the UIs
unauthenticated. The ALB also hands the user's identity only as its own signed JWT
(``x-amzn-oidc-data``, not a JWKS Grafana can verify) and ``x-amzn-oidc-identity`` (the opaque
``sub``), which neither Grafana nor MLflow reads; oauth2-proxy passes ``X-Forwarded-Email``, which
Grafana's ``auth.proxy`` reads (people get their own Grafana user). It leaves a browser's own
``Authorization`` header alone (it injects none without a basic-auth password), so MLflow's basic-auth
still asks for the person's MLflow user after sign-in. And the client secret stays one Secret in one
namespace, where the ALB action needs a copy in every UI's namespace for the controller to read.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra import flows as platform_flows
from infra import namespaces as ns
from infra.components.model_serving import load_balancer_cidrs
from infra.config import PRIVATE_RANGES, Settings
from infra.flows import Flow

# What the oauth2-proxy chart (10.7.0) listens on (--http-address=0.0.0.0:4180) and labels its pods with.
PROXY_PORT = 4180
PROXY_NAME = "oauth2-proxy"
# The Secret every proxy reads (chart value config.existingSecret): the client's secret and the cookie key.
CLIENT_SECRET = "sso-client"
SECRET_KEYS = ("client-secret", "cookie-secret")
# With the client secret given as a Pulumi secret, the cookie key is a credential of the stack's own
# (infra/credentials.py SSO_COOKIE: on AWS from Secrets Manager), in a Secret of its own the proxies read by reference.
COOKIE_SECRET = "sso-cookie"
# Grafana's auth.proxy reads the signed-in person from this header (oauth2-proxy's pass-user-headers).
EMAIL_HEADER = "X-Forwarded-Email"


@dataclass(frozen=True)
class Ui:
    """A UI people open: its host label under ssoDomain, its Service and the pods and port behind it."""

    name: str
    namespace: str
    service: str
    service_port: int
    pods: dict[str, str]
    pod_port: int

    @property
    def upstream(self) -> str:
        """Where its proxy sends signed-in requests."""
        return f"http://{self.service}.{self.namespace}.svc.cluster.local:{self.service_port}"

    @property
    def release(self) -> str:
        """The proxy's Helm release (and, containing the chart's name, its fullname)."""
        return f"{self.name}-{PROXY_NAME}"

    @property
    def proxy_pods(self) -> dict[str, str]:
        """The labels of this UI's proxy pods (the chart's selector labels)."""
        return {"app.kubernetes.io/name": PROXY_NAME, "app.kubernetes.io/instance": self.release}


KFP = Ui("kfp", ns.KUBEFLOW.name, "ml-pipeline-ui", 80, platform_flows.KFP_UI_PODS, platform_flows.KFP_UI_PORT)
MLFLOW = Ui("mlflow", ns.MLFLOW.name, "mlflow", platform_flows.MLFLOW_PORT, platform_flows.MLFLOW_PODS, platform_flows.MLFLOW_PORT)
# kube-prometheus-stack's Grafana Service (release kube-prometheus-stack) and Argo CD's server (release argocd).
GRAFANA = Ui("grafana", ns.MONITORING.name, "kube-prometheus-stack-grafana", 80, platform_flows.GRAFANA_PODS, platform_flows.GRAFANA_PORT)
ARGOCD = Ui("argocd", ns.ARGOCD.name, "argocd-server", 80, platform_flows.ARGOCD_SERVER_PODS, platform_flows.ARGOCD_SERVER_PORT)


def uis(settings: Settings) -> tuple[Ui, ...]:
    """The UIs this stack runs and signs people in to (none with sso off)."""
    if not settings.sso.enabled:
        return ()
    return (KFP, MLFLOW, *((GRAFANA,) if settings.monitoring else ()), *((ARGOCD,) if settings.gitops.mode == "argocd" else ()))


def host(settings: Settings, ui: Ui) -> str:
    """The UI's host name: <ui>.<ssoDomain>."""
    return f"{ui.name}.{settings.sso.domain}"


def load_balancer_sources(settings: Settings) -> tuple[str, ...]:
    """Where the UIs' internal ALB sends traffic from: its subnets (the private ones, or the VPC's when not ours)."""
    return load_balancer_cidrs(settings, "internal")


def allowed_cidrs(settings: Settings) -> tuple[str, ...]:
    """Who may open the UIs' load balancer (its security group, 443): ssoAllowedCidrs, else the VPC."""
    return settings.sso.allowed_cidrs or (settings.network.vpc_cidr,)


def flows(settings: Settings) -> list[Flow]:
    """The load balancer to the proxies, the proxies to their UI and to the OIDC provider."""
    found = [
        Flow(f"alb-to-sso-{index}", "", ns.SSO.name, (PROXY_PORT,), target_pods={"app.kubernetes.io/name": PROXY_NAME}, cidr=cidr)
        for index, cidr in enumerate(load_balancer_sources(settings))
    ]
    found += [
        Flow(f"sso-to-{ui.name}", ns.SSO.name, ui.namespace, (ui.pod_port,), ui.proxy_pods, dict(ui.pods))
        for ui in uis(settings)
    ]
    # The provider's discovery, keys and token endpoints: HTTPS outside the private ranges (its addresses are not known).
    found.append(Flow("sso-to-oidc-provider", ns.SSO.name, "", (443,), {"app.kubernetes.io/name": PROXY_NAME},
                      cidr="0.0.0.0/0", cidr_except=PRIVATE_RANGES))
    return found
